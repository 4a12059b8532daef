"""The composition root: settings, the application factory, the scheduler's jobs, the CLI.

Everything is wired together here and nothing imports this package.
"""
