"""One trust boundary (issue 12): views, serializers and portal code never decide access.

Who may see or do what is decided in `consent/policy.py` and nowhere else (STYLE.md, rule 3).
The faces of the service, every module of `api/` and `portal/` (views, serializers, forms,
filters, schema hooks, the portal's selectors and access helpers alike), may only *call* the
policy, through the selectors and services that take the acting user: `case_for_user(...)`
fetches and decides in one call, and raises 404 or 403 itself.

This test reads their source with `ast` and fails on any of these constructs, each one a
decision made outside the policy:

- `role-compare`: a comparison (`==`, `!=`, `in`, `not in`) of a `.role` attribute;
- `role-filter`: a query keyword on a role (`role=`, `role__in=`, `members__role=` ...): a role
  test written as a query;
- `is_family`: any use of an access's `.is_family`;
- `access-flag`: `.manage`, `.change` or `.view` tested as a condition (`if`, `and`/`or`, `not`,
  a conditional expression, an `assert`, a comprehension's `if`);
- `is_guardian`: any name or attribute `is_guardian`;
- `has_perm` / `get_perms`: django's or django-guardian's permission checks (`has_perm(`,
  `has_perms(`, `get_perms(`, `get_objects_for_user(`);
- `guardian-import`: any import of django-guardian (`guardian` ...);
- `staff-flag`: any use of `.is_staff` or `.is_superuser`;
- `in-force-filter`: a query keyword on `is_active` or `ended_at` (`is_active=`,
  `ended_at__isnull=`, `memberships__is_active=` ...), or `.is_active` / `.ended_at` tested as a
  condition: whether a membership or account is in force is the policy's to say;
- `policy-require`: `policy.require(...)` (or a bare imported `require(...)`): the view deciding
  which access it needs and refusing itself.

`ALLOWLIST` names the few constructs that are not access decisions, each with its reason. An
entry matches by file, enclosing function (or class) and kind, not by line, so that it survives
edits around it; an entry that matches nothing fails the test, so the list cannot go stale.
"""

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("api", "portal")

ROLE_KEYWORDS = ("role",)
IN_FORCE_KEYWORDS = ("is_active", "ended_at")
ACCESS_FLAGS = {"manage", "change", "view"}
PERMISSION_CALLS = {"has_perm", "has_perms", "get_perms", "get_objects_for_user"}
STAFF_FLAGS = {"is_staff", "is_superuser"}

# (path, enclosing function or class, kind) -> why it is not an access decision.
_TARGET = (
    "an input field's choices: which accounts may be *named* in a request (a target, not the "
    "actor); the policy grants a deactivated account nothing whatever it is named in"
)
ALLOWLIST: dict[tuple[str, str, str], str] = {
    ("api/audit_views.py", "AuditEventExportView._note_export", "role-filter"): (
        "writes the role of the auditor's own access-log event; sets a value, tests nothing"
    ),
    ("api/network.py", "NetworkMemberViewSet.create", "role-filter"): (
        "passes the member's free-text role on the case to the service; tests nothing"
    ),
    ("portal/selectors.py", "decision_context", "role-filter"): (
        "lists the family's guardians on the consent page to show whose grant is needed; who "
        "must grant is consent.services' rule, who may see the page the gate's"
    ),
    ("api/plan_actions.py", "PlanActionWriteSerializer", "in-force-filter"): (
        f"{_TARGET}; and the catalogue's own `Service.is_active` (a service withdrawn from it)"
    ),
    ("api/referrals.py", "ReferralCreateSerializer", "in-force-filter"): (
        "the catalogue's own `Service.is_active`: a service withdrawn from the catalogue"
    ),
    ("api/reassignments.py", "ReassignSerializer", "in-force-filter"): _TARGET,
    ("api/serializers.py", "HandoverProposeSerializer", "in-force-filter"): _TARGET,
    ("api/serializers.py", "NetworkMemberCreateSerializer", "in-force-filter"): _TARGET,
    ("api/serializers.py", "InvitationCreateSerializer", "in-force-filter"): _TARGET,
    ("api/auth_views.py", "TokenView.post", "in-force-filter"): (
        "authentication, not access: an inactive account gets no token (Django's own rule, "
        "kept for every authentication backend); no case is involved"
    ),
    ("portal/oidc.py", "GuardianOIDCBackend.filter_users_by_claims", "in-force-filter"): (
        "authentication: the account that an identity claim signs in as"
    ),
    ("portal/oidc.py", "GuardianOIDCBackend.filter_users_by_claims", "role-filter"): (
        "authentication: strong identification signs in only a guardian's account; what that "
        "account then sees is the policy's"
    ),
}


@dataclass(frozen=True)
class Hit:
    path: str
    line: int
    scope: str
    kind: str
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind} in {self.scope or '<module>'}: {self.text}"


def _keyword_matches(name: str, field: str) -> bool:
    """`role`, `role__in`, `members__role`, `members__role__in`: a lookup on `field`."""
    parts = name.split("__")
    return field in parts


def _conditions(tree: ast.AST):
    """Every expression used as a condition, and the operands of `and`, `or` and `not`."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.If, ast.While, ast.IfExp, ast.Assert)):
            yield node.test
        elif isinstance(node, ast.comprehension):
            yield from node.ifs
        elif isinstance(node, ast.BoolOp):
            yield from node.values
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node.operand


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str, source: str):
        self.path, self.source = path, source
        self.scope: list[str] = []
        self.hits: list[Hit] = []
        self.condition_nodes: set[int] = set()

    def hit(self, node: ast.AST, kind: str) -> None:
        text = ast.get_source_segment(self.source, node) or ""
        self.hits.append(
            Hit(self.path, node.lineno, ".".join(self.scope), kind, " ".join(text.split())[:100])
        )

    def scan(self, tree: ast.AST) -> list[Hit]:
        for condition in _conditions(tree):
            # The condition itself, or its comparison operands: `if access.manage`,
            # `if not access.view`, `if x and user.is_active`.
            self.condition_nodes.add(id(condition))
        self.visit(tree)
        return self.hits

    def _scoped(self, node):
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def visit_Import(self, node):
        for alias in node.names:
            if alias.name.split(".")[0] == "guardian":
                self.hit(node, "guardian-import")
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        if (node.module or "").split(".")[0] == "guardian":
            self.hit(node, "guardian-import")
        self.generic_visit(node)

    def visit_Compare(self, node):
        operands = [node.left, *node.comparators]
        if any(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops) and any(
            isinstance(operand, ast.Attribute) and operand.attr == "role" for operand in operands
        ):
            self.hit(node, "role-compare")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if node.attr == "is_family":
            self.hit(node, "is_family")
        elif node.attr == "is_guardian":
            self.hit(node, "is_guardian")
        elif node.attr in STAFF_FLAGS:
            self.hit(node, "staff-flag")
        elif id(node) in self.condition_nodes:
            if node.attr in ACCESS_FLAGS:
                self.hit(node, "access-flag")
            elif node.attr in IN_FORCE_KEYWORDS:
                self.hit(node, "in-force-filter")
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id == "is_guardian":
            self.hit(node, "is_guardian")
        self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in PERMISSION_CALLS:
            self.hit(node, name if name in ("has_perm", "get_perms") else "has_perm")
        if name == "require" and (
            isinstance(func, ast.Name)
            or (isinstance(func.value, ast.Name) and func.value.id == "policy")
        ):
            self.hit(node, "policy-require")
        for keyword in node.keywords:
            if keyword.arg is None:
                continue
            if any(_keyword_matches(keyword.arg, field) for field in ROLE_KEYWORDS):
                self.hit(keyword.value, "role-filter")
            if any(_keyword_matches(keyword.arg, field) for field in IN_FORCE_KEYWORDS):
                self.hit(keyword.value, "in-force-filter")
        self.generic_visit(node)


def scan_source(path: str, source: str) -> list[Hit]:
    return _Scanner(path, source).scan(ast.parse(source, filename=path))


def scanned_files() -> list[Path]:
    return sorted(
        path
        for package in SCANNED
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def boundary_hits() -> list[Hit]:
    hits = []
    for path in scanned_files():
        relative = str(path.relative_to(ROOT))
        hits += scan_source(relative, path.read_text(encoding="utf-8"))
    return hits


def _allowed(hit: Hit) -> bool:
    return (hit.path, hit.scope, hit.kind) in ALLOWLIST


# --- Tests -----------------------------------------------------------------------------------


def test_views_serializers_and_portal_code_decide_no_access_themselves():
    hits = [hit for hit in boundary_hits() if not _allowed(hit)]
    assert not hits, (
        f"{len(hits)} access decisions outside consent/policy.py (move each into the policy, "
        "and call it through a selector or service that takes the acting user):\n"
        + "\n".join(str(hit) for hit in hits)
    )


def test_every_allowlist_entry_still_matches_something():
    found = {(hit.path, hit.scope, hit.kind) for hit in boundary_hits()}
    stale = sorted(set(ALLOWLIST) - found)
    assert not stale, f"allowlist entries that match nothing (remove them): {stale}"
    assert all(reason.strip() for reason in ALLOWLIST.values())


def test_the_scan_covers_every_module_of_the_api_and_the_portal():
    names = {str(path.relative_to(ROOT)) for path in scanned_files()}
    for expected in (
        "api/views.py",
        "api/serializers.py",
        "api/network.py",
        "api/consents.py",
        "api/cases.py",
        "api/families.py",
        "api/meetings.py",
        "api/plan_actions.py",
        "api/referrals.py",
        "api/incoming_referrals.py",
        "api/my_work.py",
        "api/reassignments.py",
        "api/workers.py",
        "api/audit_views.py",
        "api/emergency.py",
        "portal/views.py",
        "portal/access.py",
        "portal/selectors.py",
        "portal/forms.py",
    ):
        assert expected in names, expected
    assert len(names) >= 20


PLANTED = """
import guardian
from guardian.shortcuts import get_perms

def view(request, access, membership, user, case):
    if access.role == "responsible":
        pass
    if access.role in ("member", "guardian"):
        pass
    if not access.is_family:
        pass
    if access.manage and access.view:
        pass
    x = 1 if access.change else 2
    if is_guardian(user, case):
        pass
    if user.has_perm("cases.view_case", case):
        pass
    get_perms(user, case)
    if user.is_staff or user.is_superuser:
        pass
    Membership.objects.filter(is_active=True, ended_at__isnull=True)
    Member.objects.filter(members__role="guardian")
    if membership.ended_at:
        pass
    policy.require(access, "manage")
"""


@pytest.mark.parametrize(
    ("kind", "times"),
    [
        ("guardian-import", 2),
        ("role-compare", 2),
        ("is_family", 1),
        ("access-flag", 3),
        ("is_guardian", 1),
        ("has_perm", 1),
        ("get_perms", 1),  # the call; its import is a guardian-import
        ("staff-flag", 2),
        ("in-force-filter", 3),
        ("role-filter", 1),
        ("policy-require", 1),
    ],
)
def test_the_scan_finds_each_kind_of_decision_it_looks_for(kind, times):
    hits = [hit for hit in scan_source("planted.py", PLANTED) if hit.kind == kind]
    assert len(hits) == times, [str(hit) for hit in hits]


def test_the_scan_leaves_plain_code_alone():
    plain = """
def view(request, case_id):
    case, access = selectors.case_for_user(user=request.user, case_id=case_id, need="view")
    data = CaseSerializer(case, context={"access": {case.pk: access}}).data
    if request.method == "POST" and data:
        return Response(data, status=201)
    return Response(data)
"""
    assert scan_source("plain.py", plain) == []
