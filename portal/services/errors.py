"""Errors the domain raises; views turn them into messages and status codes."""


class DomainError(Exception):
    """Something the person asked for cannot be done; the message says why, in plain words."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    pass


class InvalidFields(InvalidInput):
    """Several fields are wrong at once: each with its message, so a form shows them all in one
    round rather than one per submission. The first is the error's own field and message."""

    def __init__(self, problems: dict[str, str]) -> None:
        field, message = next(iter(problems.items()))
        super().__init__(message, field=field)
        self.problems = problems


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
