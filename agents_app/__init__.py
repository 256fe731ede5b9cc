"""The pipeline: its machinery (pipeline/), the stages (stages/), the lanes (lanes/), what
they read and run in (spec/, env/, guards/, llm/) and the sandbox (sandbox/)."""
