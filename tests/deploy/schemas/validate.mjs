// Validates custom resources against their operators' published schemas: reads a JSON array of
// manifests on stdin, prints one line per invalid manifest, exits 1 if any is invalid.
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";

const KINDS = { "keda.sh/v1alpha1/ScaledObject": ScaledObject };

let input = "";
for await (const chunk of process.stdin) input += chunk;
let failed = 0;
for (const doc of JSON.parse(input)) {
  const model = KINDS[`${doc.apiVersion}/${doc.kind}`];
  if (!model) {
    console.log(`${doc.kind} ${doc.metadata?.name}: no schema known for ${doc.apiVersion}`);
    failed++;
    continue;
  }
  try {
    new model(doc).validate();
  } catch (error) {
    console.log(`${doc.kind} ${doc.metadata?.name}: ${error.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
