"""Inputs, results and pure rules shared by workflows, activities, the API and the CLI.

Nothing here does I/O, so every module is cheap to pass through the workflow sandbox."""
