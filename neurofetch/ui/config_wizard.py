"""The neurofetch-config wizard (rich prompts on a terminal) and the profile views it shares with
`neurofetch-config list` / `show`. Every change is saved when its step is complete."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from neurofetch.config_file import ConfigFile, check_profile_name
from neurofetch.errors import NeurofetchError
from neurofetch.settings import DEFAULT_JOBS, DEFAULT_URLS, PREVENTAD_URL, SERVICES, Profile
from neurofetch.ui.console import make_console

if TYPE_CHECKING:
    from rich.console import Console

KNOWN_SERVERS = {
    "loris": ("PREVENT-AD open data", PREVENTAD_URL),
    "allen": ("Allen Brain Map", DEFAULT_URLS["allen"]),
    "neurovault": ("NeuroVault", DEFAULT_URLS["neurovault"]),
    "datamint": ("Datamint", DEFAULT_URLS["datamint"]),
}
NEXT_STEP = {
    "loris": "neurofetch --profile {name} mirror DEST",
    "neurovault": "neurofetch --profile {name} mirror DEST --collection ID",
    "allen": "neurofetch --profile {name} atlas-image ...",
    "datamint": "neurofetch --profile {name} upload ...",
    "s3": "neurofetch --profile {name} s3-sync SRC DST",
}
SECRET_LABEL = {"loris": "password", "datamint": "API key"}
ENV_FOR_SERVICE = {"loris": "NEUROFETCH_PASSWORD", "datamint": "NEUROFETCH_API_KEY"}
ACTIONS = ["add", "edit", "show", "test", "default", "delete", "quit"]


class CheckOutcome(Protocol):
    """A connection test's outcome: ``ok`` True, False or None (nothing could be tried), and why."""

    @property
    def ok(self) -> bool | None: ...
    @property
    def message(self) -> str: ...
    @property
    def stored(self) -> bool: ...


@dataclass(frozen=True)
class ProfileTools:
    """What the wizard does beyond asking and saving, handed in by the command that runs it."""

    check: Callable[[Profile, str | None, bool, str | None], CheckOutcome]  # profile, secret, store, bucket
    forget_secrets: Callable[[Profile], list[str]]
    secret_status: Callable[[Profile], list[tuple[str, str]]]
    keyring_problem: Callable[[str], str | None]  # why the keyring cannot keep a secret of this service, or None


# -- views shared with the subcommands --------------------------------------------------------------------------


def profile_table_lines(config: ConfigFile) -> list[str]:
    rows = []
    for name in config.profile_names:
        raw = config.raw(name)
        url = raw.get("url") or raw.get("endpoint_url") or DEFAULT_URLS.get(str(raw.get("service")), "")
        mark = "  (default)" if name == config.default_profile else ""
        rows.append((name, str(raw.get("service", "?")), f"{url}{mark}"))
    width = max(len(r[0]) for r in rows)
    return [f"{n.ljust(width)}  {s.ljust(10)}  {rest}".rstrip() for n, s, rest in rows]


def profile_detail_lines(
    config: ConfigFile, name: str, secret_status: Callable[[Profile], list[tuple[str, str]]]
) -> list[str]:
    """The profile as it will be used: file keys, defaults filled in, and secrets masked with their source."""
    profile = config.profile(name)
    raw = config.raw(name)
    lines = [f"profile: {name}" + ("  (default)" if name == config.default_profile else ""), f"file: {config.path}"]
    shown = {
        "service": profile.service,
        "url": profile.url,
        "username": profile.username,
        "jobs": profile.jobs,
        "timeout": profile.timeout,
        "verify_tls": profile.verify_tls,
        "retries": profile.retries,
        "retry_wait_max": profile.retry_wait_max,
    }
    for key, value in shown.items():
        if value in (None, "") and key not in raw:
            continue
        lines.append(f"{key}: {raw.get(key, value)}" + ("" if key in raw else "  (default)"))
    lines += [f"{key}: {value}" for key, value in profile.extra.items()]
    lines += [f"{label}: {status}" for label, status in secret_status(profile)]
    return lines


# -- the wizard -------------------------------------------------------------------------------------------------


def run_wizard(path: Path, tools: ProfileTools) -> int:
    """Ask, save, test, until the user quits; returns the exit code."""
    console = make_console()
    try:
        Wizard(console, ConfigFile(path), tools).run()
    except (KeyboardInterrupt, EOFError):
        console.print("\nCancelled; what was saved before stays saved.", markup=False)
        return 130
    return 0


class Wizard:
    def __init__(self, console: Console, config: ConfigFile, tools: ProfileTools) -> None:
        self.console = console
        self.config = config
        self.tools = tools
        self.keyring_usable = True  # found out when a secret is asked for

    # prompts ---------------------------------------------------------------------------------------------------
    def ask(
        self, question: str, *, default: str | None = None, choices: list[str] | None = None, password: bool = False
    ) -> str:
        """One answer; ``default=""`` makes the question optional (Enter gives "")."""
        from rich.prompt import Prompt

        kwargs: dict[str, Any] = {
            "console": self.console,
            "password": password,
            "choices": choices,
            "show_default": bool(default),
        }
        if default is not None:
            kwargs["default"] = default
        return str(Prompt.ask(question, **kwargs)).strip()

    def confirm(self, question: str, *, default: bool) -> bool:
        from rich.prompt import Confirm

        return bool(Confirm.ask(question, console=self.console, default=default))

    def say(self, text: str, style: str | None = None) -> None:
        self.console.print(text, style=style, markup=False, highlight=False)

    # flow ------------------------------------------------------------------------------------------------------
    def run(self) -> None:
        self.say(f"neurofetch-config: profiles live in {self.config.path}", style="bold")
        if not self.config.profile_names:
            self.say("There is no profile yet; let's add one.")
            self.add()
        while True:
            self.say("")
            for line in profile_table_lines(self.config) if self.config.profile_names else ["(no profiles)"]:
                self.say("  " + line)
            action = self.ask("What next?", choices=ACTIONS, default="quit")
            if action == "quit":
                return
            if action != "add" and not self.config.profile_names:
                self.say("There is no profile yet; add one first.")
                continue
            getattr(self, action if action != "default" else "make_default")()

    def pick(self, question: str) -> str:
        names = self.config.profile_names
        default = self.config.default_profile if self.config.default_profile in names else names[0]
        return self.ask(question, choices=names, default=default)

    def add(self) -> None:
        service = self.ask("Service", choices=list(SERVICES), default="loris")
        values: dict[str, Any] = {"service": service}
        values.update(self.ask_location(service, None))
        name = self.ask_new_name(service, values)
        values.update(self.ask_details(service, {}))
        self.finish(name, values, new=True)

    def edit(self) -> None:
        name = self.pick("Which profile?")
        raw = self.config.raw(name)
        service = str(raw.get("service"))
        values = self.ask_location(service, raw)
        values.update(self.ask_details(service, raw))
        self.finish(name, values, new=False)

    def show(self) -> None:
        for line in profile_detail_lines(self.config, self.pick("Which profile?"), self.tools.secret_status):
            self.say("  " + line)

    def test(self) -> None:
        name = self.pick("Which profile?")
        profile = self.config.profile(name)
        bucket = self.ask_bucket() if profile.service == "s3" else None
        self.report(self.check(profile, None, store=False, bucket=bucket))

    def ask_bucket(self) -> str | None:
        return self.ask("Bucket to list for the connection test (Enter to skip)", default="") or None

    def make_default(self) -> None:
        name = self.pick("Default profile")
        self.config.set_default(name)
        self.config.save()
        self.say(f"The default profile is now {name!r}.")

    def delete(self) -> None:
        name = self.pick("Delete which profile?")
        if not self.confirm(f"Delete profile {name!r}?", default=False):
            return
        profile = self.config.profile(name)
        self.config.delete_profile(name)
        self.config.save()
        self.say(f"Deleted profile {name!r}.")
        sharing = [
            n for n in self.config.profile_names if self.config.profile(n).keyring_service == profile.keyring_service
        ]
        if (
            profile.service in SECRET_LABEL
            and not sharing
            and self.confirm(f"Also remove the stored {SECRET_LABEL[profile.service]} for {profile.url}?", default=True)
        ):
            removed = self.tools.forget_secrets(profile)
            self.say(f"Removed the stored {', '.join(removed)}." if removed else "Nothing was stored.")

    # questions -------------------------------------------------------------------------------------------------
    def ask_location(self, service: str, raw: dict[str, Any] | None) -> dict[str, Any]:
        if service == "s3":
            values: dict[str, Any] = {}
            for key, question in (
                ("endpoint_url", "S3 endpoint URL (empty for AWS itself)"),
                ("aws_profile", "AWS profile for the credentials (empty: the AWS default chain)"),
                ("region", "Region (empty: the AWS profile's, else us-east-1)"),
            ):
                answer = self.ask(question, default=str((raw or {}).get(key, "")))
                if answer:
                    values[key] = self.valid_url(answer) if key == "endpoint_url" else answer
            return values
        known = KNOWN_SERVERS.get(service)
        current = (raw or {}).get("url")
        if known and not current:
            self.say(
                f"Known server: {known[0]}, {known[1]}. Press Enter to use it, or type another URL "
                f"(for a local emulator: the URL that `neurofetch emulate {service}` prints)."
            )
        default = str(current or (known[1] if known else ""))
        while True:
            url = self.ask("URL", default=default or None)
            try:
                return {"url": self.valid_url(url)}
            except NeurofetchError as exc:
                self.say(str(exc), style="red")

    @staticmethod
    def valid_url(url: str) -> str:
        from neurofetch.config_file import check_url

        return check_url(url)

    def ask_new_name(self, service: str, values: dict[str, Any]) -> str:
        suggestion = "preventad" if values.get("url") == PREVENTAD_URL else service
        base, number = suggestion, 2
        while suggestion in self.config.profile_names:
            suggestion, number = f"{base}-{number}", number + 1
        while True:
            name = self.ask("Profile name", default=suggestion)
            try:
                check_profile_name(name)
            except NeurofetchError as exc:
                self.say(str(exc), style="red")
                continue
            if name in self.config.profile_names:
                self.say(f"There is already a profile {name!r}; choose another name (or use edit).", style="red")
                continue
            return name

    def ask_details(self, service: str, raw: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if service == "loris":
            import os

            default = str(raw.get("username") or os.environ.get("NEUROFETCH_USERNAME") or "")
            while not (username := self.ask("LORIS username", default=default or None)):
                pass
            values["username"] = username
        while True:
            jobs = self.ask(
                "Parallel transfers (jobs; be polite to small servers)", default=str(raw.get("jobs", DEFAULT_JOBS))
            )
            if jobs.isdigit() and 1 <= int(jobs) <= 64:
                values["jobs"] = int(jobs)
                return values
            self.say("jobs is a whole number from 1 to 64.", style="red")

    def ask_secret(self, profile: Profile) -> str | None:
        """The secret to test with (and keep); None when the user skips it or it comes from the environment."""

        label = SECRET_LABEL.get(profile.service)
        if label is None:
            return None
        env_name = ENV_FOR_SERVICE[profile.service]
        import os

        if os.environ.get(env_name):
            self.say(f"Using the {label} in {env_name} for the test; it is not stored.")
            return None
        where = "kept in the OS keyring, never in the config file"
        problem = self.tools.keyring_problem(profile.keyring_service)
        self.keyring_usable = problem is None
        if problem:
            self.say(
                f"No usable keyring here ({problem}), so the {label} is only used for the connection test; "
                f"later runs need {env_name} in their environment.",
                style="yellow",
            )
            where = "used for the test only"
        value = self.ask(f"{label[0].upper()}{label[1:]} ({where}; Enter to skip)", default="", password=True)
        return value or None

    # save and test ---------------------------------------------------------------------------------------------
    def finish(self, name: str, values: dict[str, Any], *, new: bool) -> None:
        profile = self.config.set_profile(name, values)  # validated; on disk only after save()
        bucket = self.ask_bucket() if profile.service == "s3" else None
        secret = self.ask_secret(profile)
        outcome = self.check(profile, secret, store=self.keyring_usable, bucket=bucket)
        self.report(outcome)
        if outcome.ok is False and not self.confirm("Save the profile anyway?", default=False):
            self.config = ConfigFile(self.config.path)
            self.say("Not saved.")
            return
        if not self.config.default_profile or (
            self.config.default_profile != name and self.confirm(f"Make {name!r} the default profile?", default=new)
        ):
            self.config.set_default(name)
        self.config.save()
        self.say(f"Saved profile {name!r} to {self.config.path} (readable by you only).", style="green")
        self.say("Next: " + NEXT_STEP[profile.service].format(name=name))

    def check(self, profile: Profile, secret: str | None, *, store: bool, bucket: str | None = None) -> CheckOutcome:
        self.say(f"Testing the connection to {profile.url or profile.extra.get('endpoint_url') or 'S3'} ...")
        return self.tools.check(profile, secret, store and secret is not None, bucket)

    def report(self, outcome: CheckOutcome) -> None:
        if outcome.ok:
            self.say(f"Connection test passed: {outcome.message}.", style="green")
            if outcome.stored:
                self.say("The secret is in the OS keyring; later runs use it by themselves.")
        elif outcome.ok is None:
            self.say(f"Connection test skipped: {outcome.message}.", style="yellow")
        else:
            self.say(f"Connection test FAILED: {outcome.message}", style="red")
