"""chatbot_common: what every service of the fleet shares, and nothing that belongs to one of them.

Owns: the settings base and the settings several services share (`settings`), the start-up
path (`entrypoint`), logging that scrubs secrets and personal data, tracing and metrics; the
one error table (`errors`) and its gRPC side (`grpc_errors`); gRPC server and client helpers;
database helpers (`db`); the blob store; the ingestion queue's broker and task names (`tasks`);
the embedding model (`embedding`); file-type sniffing, ids, paging, text and time helpers; the
guardrails applied on both sides of the model (`guardrails/`). The generated gRPC stubs live
beside it in `chatbot/` and only `make proto` writes them.

Must not: import a service package, hold one service's rules or tables, or do anything at
import time: clients, channels, settings and models are built by the service at start and
passed in.
"""
