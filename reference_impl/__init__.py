"""The reference translating router: the Responses API on top of any Chat Completions backend."""
