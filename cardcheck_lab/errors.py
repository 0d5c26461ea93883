"""Errors that carry a message for the person who ran the check."""


class InputError(Exception):
    """Bad input from the user: a missing card, a card without claims, a path outside the workspace."""
