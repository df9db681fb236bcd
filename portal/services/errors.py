"""Errors the domain raises; views turn them into messages and status codes."""


class DomainError(Exception):
    """Something the person asked for cannot be done; the message says why, in plain words."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    pass


class InvalidToken(DomainError):
    pass


class AlreadyConfirmed(DomainError):
    """A confirmation link that has done its work: nothing is wrong, and nobody is signed in."""


class SignInFailed(DomainError):
    pass


class AccountSuspended(DomainError):
    def __init__(self, reason: str | None) -> None:
        super().__init__("This account is suspended.")
        self.reason = reason
