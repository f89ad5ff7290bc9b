/** The gateway's one error shape, `{"error": {"code", "message", "details"}}`, as a thrown value. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** Worth trying again later (the README names these codes); the rest need the user to act. */
  get retryable(): boolean {
    return ["RATE_LIMIT_EXCEEDED", "SERVICE_UNAVAILABLE", "LLM_TIMEOUT", "LLM_PROVIDER_ERROR", "NETWORK_ERROR"].includes(this.code);
  }
}

export function errorFromBody(status: number, body: unknown): ApiError {
  const error = (body as { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | null)?.error;
  if (error && typeof error.code === "string") {
    return new ApiError(status, error.code, error.message ?? error.code, error.details ?? {});
  }
  return new ApiError(status, "HTTP_" + status, `The server answered ${status}.`);
}

export async function errorFromResponse(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy's page, or an empty body
  }
  return errorFromBody(response.status, body);
}
