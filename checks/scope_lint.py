#!/usr/bin/env python3
"""The access rule by construction, where the compiler cannot hold it (CI runs this).

Rust's privacy can make `Actor`'s fields private and `ContactScope` buildable only from an
`Actor` (the compiler holds that), but it cannot say "only `access/` and each resource's
`queries.rs` may name the contact tables": a module is visible to all of its crate or to
one ancestor. So this script does, over `src/`:

1. The tables of contacts and of everything that hangs off them are imported from
   `crate::db::schema` (or named as `schema::<table>`) only by the access layer, a
   resource's query module, or a file listed below with the reason it may.
2. `Actor::authenticated(` is called only by the auth extractor.
3. `ContactScope::new(` is called only inside `access/` (other users' scopes come from
   `access::Member`, loaded from the database).

Exit 1 with one line per violation; `--self-test` checks that each rule catches a breach.
"""
import pathlib
import re
import sys

PROTECTED = {
    "contacts", "contact_tags", "deals", "deal_items", "actions", "audit_log", "notifications",
    "office_memberships", "organizations", "interactions", "interaction_mentions", "custom_values",
}

# Files besides access/, db/ and */queries.rs that may name protected tables, and which.
ALLOWED = {
    "src/contacts/list.rs": (PROTECTED, "the contacts list's query builder (keyset over its sort keys)"),
    "src/seed.rs": (PROTECTED, "the demo-data generator writes its own account in bulk"),
    "src/auth/mod.rs": ({"office_memberships"}, "loads the caller with its office grants into the Actor"),
    "src/contacts/timeline.rs": (PROTECTED, "the timeline's query module: one scoped query per item type"),
    "src/refs.rs": ({"organizations"}, "checks that an organization id is one of the account's"),
}

USE_SCHEMA = re.compile(r"use\s+crate::db::schema::(\{[^}]*\}|[\w\s]+);", re.S)
PATH_SCHEMA = re.compile(r"\bschema::(\w+)")


# A row module names its table for the row's `#[diesel(table_name = …)]` derives only: it
# may import the table but never query it.
ROW_MODULES = re.compile(r"^src/\w+/model\.rs$|^src/audit/mod\.rs$")
QUERYING = re.compile(r"::table\b|diesel::(insert_into|update|delete)\b")


def allowed_tables(rel: str, text: str) -> set:
    if rel.startswith("src/access/") or rel.startswith("src/db/") or rel.endswith("/queries.rs"):
        return PROTECTED
    if ROW_MODULES.match(rel) and not QUERYING.search(text):
        return PROTECTED
    return ALLOWED.get(rel, (set(), ""))[0]


def imported_tables(text: str) -> set:
    out = set()
    for m in USE_SCHEMA.finditer(text):
        body = m.group(1).strip("{} \n")
        for part in body.split(","):
            name = part.strip().split(" as ")[0].strip()
            if name:
                out.add(name)
    for m in PATH_SCHEMA.finditer(re.sub(USE_SCHEMA, "", text)):
        out.add(m.group(1))
    return out


def violations(files: dict) -> list:
    found = []
    for rel, text in sorted(files.items()):
        bad = (imported_tables(text) & PROTECTED) - allowed_tables(rel, text)
        for table in sorted(bad):
            found.append(f"{rel}: names the table `{table}` outside the access layer and the query modules")
        if "Actor::authenticated(" in text and rel != "src/auth/mod.rs":
            found.append(f"{rel}: builds an Actor; only the auth extractor (src/auth/mod.rs) may")
        if "ContactScope::new(" in text and not rel.startswith("src/access/"):
            found.append(f"{rel}: builds a ContactScope from parts; use ContactScope::of(actor) or access::Member")
    return found


def self_test() -> None:
    cases = {
        "src/deals/routes.rs": "use crate::db::schema::{deal_items, deals};\n",
        "src/audit/routes.rs": "let q = crate::db::schema::audit_log::table;\n",
        "src/contacts/routes.rs": "use crate::db::schema::contacts as c;\n",
        "src/users/routes.rs": "let a = Actor::authenticated(x);\n",
        "src/offices/routes.rs": "let s = ContactScope::new(a, b, c, d, e);\n",
    }
    for rel, text in cases.items():
        assert violations({rel: text}), f"self-test: {rel} should be refused"
    assert not violations({"src/deals/queries.rs": cases["src/deals/routes.rs"]}), "self-test: queries.rs may"
    assert not violations({"src/auth/mod.rs": "use crate::db::schema::{office_memberships as om, users};\n"})
    derive_only = "use crate::db::schema::actions;\n#[diesel(table_name = actions)]\nstruct Row;\n"
    assert not violations({"src/actions/model.rs": derive_only}), "self-test: a row module may derive"
    assert violations({"src/actions/model.rs": derive_only + "let q = actions::table;\n"}), "self-test: not query"
    assert violations({"src/auth/mod.rs": "use crate::db::schema::{contacts, users};\n"}), "self-test: auth, contacts"
    print("scope lint self-test: every rule catches its breach")


def main() -> int:
    if "--self-test" in sys.argv:
        self_test()
    root = pathlib.Path(__file__).resolve().parent.parent
    files = {str(p.relative_to(root)): p.read_text() for p in (root / "src").rglob("*.rs")}
    found = violations(files)
    for line in found:
        print(line)
    print(f"scope lint: {len(files)} files, {len(found)} violations")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
