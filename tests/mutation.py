"""The mutation score per module, from what `mutmut run` left in mutants/ (`make mutation`).

    python -m tests.mutation [PREFIX]        # e.g. chassis.bus, services.identity.domain

A mutant is killed when a test failed (or hung: a timeout is a test noticing), survived when
every test that runs its function passed, and "no tests" when no fast test runs its function
at all; the score counts the last two alike, as bugs no test would catch. Mutants judged
equivalent (no behaviour a caller could tell apart) are listed in EQUIVALENT with the reason,
and left out of the adjusted score; docs/testing.md explains each kind.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

MUTANTS = Path("mutants")

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped"}
STATUS.update({code: "timeout" for code in (36, 24, -24, 152, 255)})
STATUS.update({37: "type check", -11: "crashed", -9: "crashed"})
DETECTED = ("killed", "timeout", "type check", "crashed")
MISSED = ("survived", "no tests", "suspicious")

# The areas the issue scopes, with the modules (mutant name prefixes) in each.
AREAS = {
    "chassis unit of work": ("chassis.uow.",),
    "chassis bus": ("chassis.bus.",),
    "chassis auth": ("chassis.auth.",),
    "identity domain": ("services.identity.domain.",),
    "identity handlers": ("services.identity.service_layer.",),
    "catalog domain": ("services.catalog.domain.",),
    "catalog handlers": ("services.catalog.service_layer.",),
    "booking state machine": ("services.booking.domain.bookings.",),
    "booking slot rules": (
        "services.booking.domain.slots.",
        "services.booking.domain.availability.",
    ),
    "booking domain (all)": ("services.booking.domain.",),
    "booking handlers": ("services.booking.service_layer.",),
    "payments ledger": ("services.payments.domain.ledger.",),
    "payments domain (all)": ("services.payments.domain.",),
    "payments handlers": ("services.payments.service_layer.",),
    "messaging domain": ("services.messaging.domain.",),
}

# Surviving mutants judged equivalent: no caller can tell them from the original.
# name -> why. Names are mutmut's (`mutmut show NAME` prints the change).
_PADDING = "a base64url decoder ignores surplus '=' padding"
_GENERATION = "only whether the key set's generation changed is read, never its value"
_NO_KID = "PyJWT refuses a header whose kid is not a string before this line runs"
_FIELD_NAMES = "a JWK's field names are single words, alike in proto and JSON case"
_SECOND_ROLLBACK = "a second ROLLBACK of a finished transaction does nothing"
_ADD_DEFAULT = "code left out: Violations.add's default is 'invalid'"
_ONE_SHARE_EACH = "zip's strict check: _allocate returns exactly one share per bundle item"
_IN_WORKING_TIME = (
    "work <= len(working): every candidate lies in a stretch that is working time, so the"
    " pointer stops at its span and never reaches the end"
)
_SWEEP_EXIT = (
    "an early way out of the slot sweep moved: a range empty after the notice, or from or"
    " past the window's end, offers nothing anyway (the sweep's at < stop and at <= last)"
)
_PARENT_BY_MOVE = (
    "parent_id let into Category.update's copy: check_category never reads it and update"
    " keeps only slug, name, description and position, so only move_under moves a category"
)
_SQL_CASE = "SQL keywords, names and SQLite's pragma values are case-insensitive"
_NOW_PAST_ONE = "a sweep due from 1.0 rather than 0.0 on time.monotonic(), which is far past either"
_ONE_OUTCOME_EACH = "zip's strict check: a transport returns exactly one outcome per event"
_LOG_FIELD = (
    "a field name of a log line's extra, read by nothing else (log lines are left out of"
    " mutation: wording for operators)"
)
_NO_EXCEPTION_LEAVES = (
    "record_exception of the consumer's span: _apply returns a failure rather than raising,"
    " and a cancellation is no Exception, which is all a span records"
)
_REFUSED_ZONE = (
    "the default for a refused time zone (None or 'XXXX'): it stands only when the zone was"
    " refused, and then the violations raise before anyone reads the profile"
)
EQUIVALENT: dict[str, str] = {
    "chassis.auth.tokens.x__b64url__mutmut_4": (
        "rstrip('XX=XX'): a 32-byte key's base64url never ends in 'X' before its padding"
    ),
    "chassis.auth.tokens.x__b64url_decode__mutmut_6": _PADDING,
    "chassis.auth.tokens.x__b64url_decode__mutmut_7": _PADDING,
    "chassis.auth.tokens.xǁKeySetǁkey__mutmut_4": (
        "> or >= against a float from time.monotonic(): equal only at one instant"
    ),
    "chassis.auth.tokens.xǁKeySetǁkey__mutmut_7": (
        "> or >= against a float from time.monotonic(): equal only at one instant"
    ),
    "chassis.auth.tokens.xǁKeySetǁrefresh__mutmut_14": _GENERATION,
    "chassis.auth.tokens.xǁKeySetǁrefresh__mutmut_15": _GENERATION,
    "chassis.auth.tokens.xǁTokenVerifierǁverify__mutmut_18": (
        "pop(token) without a default: the token was just read from the cache, so it is there"
    ),
    "chassis.auth.tokens.xǁTokenVerifierǁ_verify__mutmut_25": _NO_KID,
    "chassis.auth.remote.x_identity_jwks__mutmut_5": (
        "None for GetJwksRequest(): gRPC serializes both as the same empty message"
    ),
    "chassis.auth.remote.x_identity_jwks__mutmut_12": _FIELD_NAMES,
    "chassis.auth.remote.x_identity_jwks__mutmut_14": _FIELD_NAMES,
    "chassis.auth.remote.x_identity_jwks__mutmut_15": _FIELD_NAMES,
    "chassis.auth.remote.xǁServiceTokensǁ__init____mutmut_7": (
        "None or '' for no token yet: both are falsy, so the first call fetches"
    ),
    "chassis.auth.remote.xǁServiceTokensǁ__init____mutmut_8": (
        "'XXXX' for no token: renew_at is now, so the first call fetches all the same"
    ),
    "chassis.uow.x_conflict_for__mutmut_11": "reason None: AlreadyExists's default is it",
    "chassis.uow.x_conflict_for__mutmut_14": "reason left out: AlreadyExists's default is it",
    "chassis.uow.xǁUnitOfWorkǁ__aenter____mutmut_3": "scan None or False: both falsy",
    "chassis.uow.xǁUnitOfWorkǁ__aenter____mutmut_5": "scan left out: its default is False",
    "chassis.uow.xǁUnitOfWorkǁ__aenter____mutmut_8": "_finished None or False: both falsy",
    "chassis.uow.xǁUnitOfWorkǁ__aexit____mutmut_1": (
        "'or': the extra ROLLBACKs land on a reader in autocommit or a finished transaction"
    ),
    "chassis.uow.xǁUnitOfWorkǁserialize__mutmut_9": "int.from_bytes's byteorder is 'big'",
    "chassis.uow.xǁUnitOfWorkǁrollback__mutmut_3": _SECOND_ROLLBACK,
    "chassis.uow.xǁUnitOfWorkǁrollback__mutmut_4": _SECOND_ROLLBACK,
    "chassis.auth.remote.xǁServiceTokensǁ__init____mutmut_9": (
        "renew_at None: never read before the first fetch sets it (no token short-circuits)"
    ),
    # Booking's domain.
    "services.booking.domain.slots.x_session_slots_among__mutmut_28": _SWEEP_EXIT,
    "services.booking.domain.slots.x_session_slots_among__mutmut_29": _SWEEP_EXIT,
    "services.booking.domain.slots.x_session_slots_among__mutmut_83": _SWEEP_EXIT,
    "services.booking.domain.slots.x_session_slots_among__mutmut_84": _SWEEP_EXIT,
    "services.booking.domain.slots.x_session_slots_among__mutmut_81": (
        "a stretch ending exactly at the earliest start read rather than skipped: its grid"
        " jumps to the earliest start, where the stretch has already ended"
    ),
    "services.booking.domain.slots.x_session_slots_among__mutmut_103": _IN_WORKING_TIME,
    "services.booking.domain.slots.x_session_slots_among__mutmut_111": _IN_WORKING_TIME,
    "services.booking.domain.slots.x__merged__mutmut_10": (
        ">= in joining spans: an end equal to the one held is written over with itself"
    ),
    "services.booking.domain.slots.x__length_micros__mutmut_1": (
        "/ rather than //: a whole number of microseconds as a float, exact below 2**53 and"
        " rounded back by from_micros"
    ),
    "services.booking.domain.slots.x_session_slots_among__mutmut_105": (
        "< rather than <= in skipping working spans: no span ends exactly at a candidate (it"
        " lies in working time, and merged spans never touch)"
    ),
    "services.booking.domain.slots.x_session_slots_among__mutmut_88": (
        "at <= first: a grid point exactly at the earliest start moves by zero steps"
    ),
    "services.booking.domain.entitlements.x_grant__mutmut_44": _ONE_SHARE_EACH,
    "services.booking.domain.entitlements.x_grant__mutmut_47": _ONE_SHARE_EACH,
    "services.booking.domain.entitlements.x_grant__mutmut_48": _ONE_SHARE_EACH,
    "services.booking.domain.entitlements.x_grant__mutmut_49": (
        "'or': a package's terms always carry its package terms (catalog requires them) and"
        " no other kind's do"
    ),
    "services.booking.domain.slots.x_session_slots_among__mutmut_60": (
        "working time read from the day before the last too: its spans lie before every"
        " candidate or merge into ones already read, and an earlier start contains the same"
    ),
    "services.booking.domain.slots.x_is_bookable__mutmut_28": (
        "a start at a stretch's very end: no session fits after it (a day's touching windows"
        " are one stretch, the next day's starts on the next local date), so covers refuses it"
    ),
    "services.booking.domain.availability.x_subtract__mutmut_17": (
        "a busy interval starting at the interval's very end: the loop appends the same tail"
        " the code after it would, and merged busy intervals never touch, so nothing else"
    ),
    "services.booking.domain.availability.x_local_instant__mutmut_17": (
        "astimezone(None): the same instant in the machine's zone; _jump_within reads only"
        " the instant"
    ),
    "services.booking.domain.availability.x__check_window__mutmut_25": (
        "sound None or False: both falsy, only read as a condition"
    ),
    "services.booking.domain.availability.x__check_window__mutmut_47": _ADD_DEFAULT,
    "services.booking.domain.availability.x_check_schedule__mutmut_78": _ADD_DEFAULT,
    "services.booking.domain.availability.x_check_schedule__mutmut_16": (
        "v.check's default: its value is never read, the zone's violations are what count"
    ),
    "services.booking.domain.entitlements.x__allocate__mutmut_7": (
        "equal weights of 2 rather than 1: scaling every weight changes no share and no"
        " order of remainders"
    ),
    # Catalog's domain.
    "services.catalog.domain.categories.xǁCategoryǁupdate__mutmut_14": _PARENT_BY_MOVE,
    "services.catalog.domain.categories.xǁCategoryǁupdate__mutmut_15": _PARENT_BY_MOVE,
    "services.catalog.domain.services.x_check_service__mutmut_46": (
        "v.check's default: its value is never read, the currency's violations are what count"
    ),
    "services.catalog.domain.practitioners.x_check_profile__mutmut_111": _REFUSED_ZONE,
    "services.catalog.domain.practitioners.x_check_profile__mutmut_120": _REFUSED_ZONE,
    "services.catalog.domain.services.xǁServiceǁquote__mutmut_17": (
        "every kind but workshops and courses seats one: check_service stores a session,"
        " package or bundle with max_participants 1, so its seats are 1 either way"
    ),
    # The chassis's bus.
    "chassis.bus.envelope.x_encode_event__mutmut_57": (
        "'and' for 'or' on the wire's content type: the binding always sets it, from the"
        " datacontenttype encode_event always gives, so both read application/json"
    ),
    "chassis.bus.consumer.xǁEventConsumerǁhandle__mutmut_16": (
        "a missing ce-type read as None: str(None) names no subscribed type either, so the"
        " dead letter is counted under no type all the same"
    ),
    "chassis.bus.consumer.xǁEventConsumerǁhandle__mutmut_52": (
        "an event without a traceparent given an empty extracted context rather than the"
        " current one: consumers start outside any span, so both make a trace of its own"
    ),
    "chassis.bus.consumer.xǁEventConsumerǁhandle__mutmut_60": _NO_EXCEPTION_LEAVES,
    "chassis.bus.consumer.xǁEventConsumerǁhandle__mutmut_65": _NO_EXCEPTION_LEAVES,
    "chassis.bus.consumer.xǁEventConsumerǁhandle__mutmut_80": _NO_EXCEPTION_LEAVES,
    "chassis.bus.embedded.xǁEmbeddedBrokerǁretry__mutmut_5": (
        "dead_letter(None, message): the broker's dead_letter reads only the message's row"
    ),
    "chassis.bus.outbox.x_retry_delay__mutmut_14": (
        "the back-off exponent capped at 21 rather than 20: both are far past the 5 minute ceiling"
    ),
    "chassis.bus.outbox.xǁOutboxRelayǁ_publish__mutmut_20": _ONE_OUTCOME_EACH,
    "chassis.bus.outbox.xǁOutboxRelayǁ_record__mutmut_5": _ONE_OUTCOME_EACH,
    "chassis.bus.outbox.xǁOutboxRelayǁ_record__mutmut_8": _ONE_OUTCOME_EACH,
    "chassis.bus.outbox.xǁOutboxRelayǁ_record__mutmut_9": _ONE_OUTCOME_EACH,
    "chassis.bus.outbox.xǁOutboxRelayǁ_record__mutmut_24": _ONE_OUTCOME_EACH,
    "chassis.bus.outbox.xǁOutboxRelayǁ_record__mutmut_27": _ONE_OUTCOME_EACH,
    "chassis.bus.outbox.xǁOutboxRelayǁ_record__mutmut_28": _ONE_OUTCOME_EACH,
    "chassis.bus.outbox.xǁOutboxRelayǁ_record__mutmut_77": _LOG_FIELD,
    "chassis.bus.outbox.xǁOutboxRelayǁ_record__mutmut_78": _LOG_FIELD,
    "chassis.bus.outbox.xǁOutboxRelayǁ_record__mutmut_79": _LOG_FIELD,
    "chassis.bus.outbox.xǁOutboxRelayǁ_record__mutmut_80": _LOG_FIELD,
    "chassis.bus.outbox.xǁOutboxRelayǁ_record__mutmut_81": _LOG_FIELD,
    "chassis.bus.outbox.xǁOutboxRelayǁ_record__mutmut_82": _LOG_FIELD,
    "chassis.bus.outbox.xǁOutboxRelayǁrun__mutmut_2": _NOW_PAST_ONE,
    "chassis.bus.outbox.xǁOutboxRelayǁrun__mutmut_12": _NOW_PAST_ONE,
    "chassis.bus.outbox.xǁOutboxRelayǁrun__mutmut_6": (
        "> or >= against a float from time.monotonic(): equal only at one instant"
    ),
    "chassis.bus.outbox.xǁOutboxRelayǁrun__mutmut_4": (
        "sweep_again None or False: both falsy, only read as a condition"
    ),
    "chassis.bus.outbox.xǁOutboxRelayǁwatch_lag__mutmut_4": (
        "failing None or False: both falsy, only read as a condition"
    ),
    "chassis.bus.outbox.xǁOutboxRelayǁ_sweep__mutmut_3": (
        "lock None or False: both falsy, only read as a condition"
    ),
    "chassis.bus.outbox.xǁOutboxRelayǁmeasure_lag__mutmut_21": (
        "scan left out (False): it only picks the thread the query runs on, the same rows come back"
    ),
    "chassis.bus.outbox.xǁOutboxRelayǁmeasure_lag__mutmut_23": (
        "scan only picks the thread the query runs on (aiosqlite's or the loop's): the same"
        " rows come back"
    ),
    "chassis.bus.embedded.xǁEmbeddedBrokerǁ__init____mutmut_22": _SQL_CASE,
    "chassis.bus.embedded.xǁEmbeddedBrokerǁ__init____mutmut_23": _SQL_CASE,
    "chassis.bus.embedded.xǁEmbeddedBrokerǁ__init____mutmut_26": _SQL_CASE,
    "chassis.bus.embedded.xǁEmbeddedBrokerǁ__init____mutmut_27": _SQL_CASE,
    "chassis.bus.embedded.xǁEmbeddedBrokerǁ__init____mutmut_30": _SQL_CASE,
    "chassis.bus.embedded.xǁEmbeddedBrokerǁ__init____mutmut_31": _SQL_CASE,
    "chassis.bus.embedded.xǁEmbeddedBrokerǁ_load__mutmut_3": _SQL_CASE,
    "chassis.bus.embedded.xǁEmbeddedBrokerǁ_load__mutmut_4": _SQL_CASE,
    "chassis.bus.embedded.xǁEmbeddedBrokerǁ_load__mutmut_9": _SQL_CASE,
    "chassis.bus.embedded.xǁEmbeddedBrokerǁ_load__mutmut_10": _SQL_CASE,
    "chassis.bus.embedded.xǁEmbeddedBrokerǁdeclare_queue__mutmut_6": _SQL_CASE,
    "chassis.bus.embedded.xǁEmbeddedBrokerǁdeclare_queue__mutmut_7": _SQL_CASE,
    "chassis.bus.embedded.xǁEmbeddedBrokerǁack__mutmut_6": _SQL_CASE,
    "chassis.bus.embedded.xǁEmbeddedBrokerǁack__mutmut_7": _SQL_CASE,
    "chassis.bus.embedded.xǁEmbeddedBrokerǁdead_letter__mutmut_10": _SQL_CASE,
    "chassis.bus.embedded.xǁEmbeddedBrokerǁdead_letter__mutmut_11": _SQL_CASE,
    "chassis.bus.embedded.xǁEmbeddedBrokerǁpurge__mutmut_6": _SQL_CASE,
    "chassis.bus.embedded.xǁEmbeddedBrokerǁpurge__mutmut_7": _SQL_CASE,
}


def statuses() -> dict[str, str]:
    """Every mutant's status, by name."""
    found: dict[str, str] = {}
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in codes.items():
            found[name] = "not checked" if code is None else STATUS.get(code, "suspicious")
    return found


def module_of(name: str) -> str:
    """chassis.bus.outbox.xǁOutboxRelayǁrun__mutmut_3 -> chassis.bus.outbox"""
    return name.split(".x_")[0].split(".xǁ")[0]


def score(counts: Counter[str], equivalent: int = 0) -> str:
    detected = sum(counts[s] for s in DETECTED)
    judged = detected + sum(counts[s] for s in MISSED) - equivalent
    return f"{100 * detected / judged:5.1f}%" if judged else "    -"


def report(prefix: str = "") -> str:
    found = {n: s for n, s in statuses().items() if n.startswith(prefix)}
    by_module: dict[str, Counter[str]] = {}
    for name, status in found.items():
        by_module.setdefault(module_of(name), Counter())[status] += 1
    equivalent = Counter(
        module_of(n) for n in EQUIVALENT if found.get(n) in ("survived", "no tests")
    )
    head = f"{'module':44} {'mutants':>7} {'killed':>6} {'surv.':>5} {'untested':>8} "
    head += f"{'unchecked':>9} {'equiv.':>6} {'score':>6} {'adjusted':>8}"
    lines = [head]

    def line(label: str, counts: Counter[str], equiv: int) -> str:
        return (
            f"{label:44} {sum(counts.values()):7} "
            f"{sum(counts[s] for s in DETECTED):6} {counts['survived']:5} "
            f"{counts['no tests']:8} {counts['not checked']:9} {equiv:6} "
            f"{score(counts):>6} {score(counts, equiv):>8}"
        )

    for module in sorted(by_module):
        lines.append(line(module, by_module[module], equivalent[module]))
    lines.append("")
    for area, prefixes in AREAS.items():
        modules = [m for m in by_module if m.startswith(tuple(p.rstrip(".") for p in prefixes))]
        if not modules:
            continue
        counts = sum((by_module[m] for m in modules), Counter())
        lines.append(line(area, counts, sum(equivalent[m] for m in modules)))
    stale = sorted(n for n in EQUIVALENT if n.startswith(prefix) and n not in found)
    if stale:
        lines.append(f"\nEQUIVALENT names no longer found (the code moved): {', '.join(stale)}")
    return "\n".join(lines)


def sample(prefix: str, every: int) -> list[str]:
    """Every `every`-th mutant of a module (by name, so the same ones each time), for a
    bounded run where a full one would take hours; mutants already checked are left out."""
    found = statuses()
    names = sorted(n for n in found if n.startswith(prefix))
    return [n for i, n in enumerate(names) if i % every == 0 and found[n] == "not checked"]


if __name__ == "__main__":
    if not MUTANTS.is_dir():
        sys.exit("no mutants/ here: run `make mutation` first")
    arguments = sys.argv[1:]
    if arguments[:1] == ["sample"]:
        # python -m tests.mutation sample PREFIX EVERY: the names to give `mutmut run`
        print("\n".join(sample(arguments[1], int(arguments[2]))))
    else:
        print(report(arguments[0] if arguments else ""))
