"""RAG evaluation shared by the `chatbot-eval` command and the ingest-worker's online evaluation.

- `retrieval`: recall@k, MRR and nDCG@k from where a passage holding the evidence ranks;
- `judge`: the judge's prompts and the parsing of its replies, and a judge on any
  OpenAI-compatible endpoint (the worker brings its own, through the llm-orchestrator);
- `answers`: faithfulness, answer relevance, context precision and context recall as Ragas
  defines them, computed here from the judge's verdicts (no dependency on ragas);
- `client`, `runner`, `report`, `compare`, `cli`: the command run against a deployment's API.

Nothing here imports a service's code: the worker and the command both depend on this package.
"""
