"""The command-line layer: the Invoke tasks, their options and help, output and errors, the `conductor-regen` program."""
