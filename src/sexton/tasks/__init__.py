"""Task types: what a run does. Each type is a plug-in, one module each."""
