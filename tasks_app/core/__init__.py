"""The bottom layer, which imports only the models and the standard library (and Django):
the task's folder and its file names (workspace), events and their live nudges, redaction
(the one token list), git, link-safe reads (safe_fs) and the lane names."""
