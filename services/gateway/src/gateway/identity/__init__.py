"""Who is calling and what they may do: accounts and sign-up (`users`), sign-in and sessions
(`sessions`), API keys (`api_keys`, checked by `accounts`), organisations and their policy
(`tenants`), roles and scopes (`roles`), external sign-in (`oidc`).

Owns the gateway's identity tables (users, refresh tokens, API keys, tenants): no other module
queries them. Must not import FastAPI or the routes; an audited action takes its origin as
`audit.Origin`.
"""
