"""Back ends: what the plan becomes for Kling.

- ``prompts``:  prompt text from Jinja2 templates (API prompts and paste-ready
                prompts for the web app).
- ``requests``: pydantic models of the request bodies of the Kling API; every
                request klingc writes is built through them.
- ``emit``:     the finished plan: prompts rendered from the templates, the
                requests built, job ids, the JSON writer and ``plan.json``.
- ``rules``:    an independent checker of the API's rules (spec section 7),
                written without the models, for tests and the local simulator.
"""
