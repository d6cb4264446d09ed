"""The planner: scenes become Kling generation jobs.

Every scene becomes one or more jobs, in script order; a shot is never cut in
two. A scene that one job cannot carry is split into the fewest jobs that
each satisfy the scene's model profile:

- the job's duration within the profile's range (3-15 s on Kling 3.0);
- at most ``shots.per_job`` shots in a structured multi-shot job;
- the prompt within ``prompt.max_chars``, and each shot's prompt within
  ``prompt.shot_max_chars`` in a structured job;
- at most ``references.max_inputs`` reference inputs (elements, reference
  images and frames) in an omni job.

Ties between splits with the fewest jobs go to the most balanced one: the
smallest longest part, then the smallest sum of squared part durations (the
least variance); a tie after that gives the earlier parts the extra shots
(``split.py`` says exactly how).
The preamble, scene sound, location and style go into every part; a first
frame goes with the first part and a last frame with the last.

A job of one shot is sent as a single prompt; a job of several shots as
structured multi-shot (``multishot: api``) or as ``Shot N (Ds): ...`` lines in
one prompt (``multishot: text``).

``make_plan`` returns the jobs and the diagnostics of compilation (KLS302,
KLS305, KLS306, KLS308, and the KLS404 note for a split scene). Rendering the
finished prompts from the templates, building the API requests and
``plan.json`` are the back end's (``backends/emit.py``).

- ``split``:   the split search (which cuts, and the tie-breaks);
- ``jobs``:    ``Job`` and ``Plan``, what the planner makes;
- ``scene``:   ``ScenePlanner`` (candidate jobs, measured; the planner's
               diagnostics) and ``make_plan``;
- ``pricing``: the pricing table and a job's rate in credits.
"""
