/** Document uploads over XMLHttpRequest, the one browser API that reports upload progress. */

import { ApiError, errorFromBody } from "./errors";
import { bearer, refresh } from "./session";
import type { DocumentStatus } from "./types";

export interface Uploaded {
  id: string;
  filename: string;
  status: DocumentStatus;
  duplicate: boolean;
}

function send(file: File, visibility: string, onProgress: (fraction: number) => void): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/documents");
    const auth = bearer();
    if (auth) xhr.setRequestHeader("Authorization", auth);
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => resolve({ status: xhr.status, body: xhr.response });
    xhr.onerror = () => reject(new ApiError(0, "NETWORK_ERROR", "The upload was cut off. Check your connection and try again."));
    const form = new FormData();
    form.append("files", file);
    form.append("visibility", visibility);
    xhr.send(form);
  });
}

/** One file, its progress from 0 to 1; an expired access token is renewed once and the upload repeated. */
export async function uploadDocument(file: File, visibility: "private" | "tenant", onProgress: (fraction: number) => void): Promise<Uploaded> {
  let reply = await send(file, visibility, onProgress);
  if (reply.status === 401 && (await refresh())) reply = await send(file, visibility, onProgress);
  if (reply.status !== 202) throw errorFromBody(reply.status, reply.body);
  onProgress(1);
  return (reply.body as { documents: Uploaded[] }).documents[0];
}
