#!/usr/bin/env python3
"""Checks docs/openapi.json: a structural OpenAPI 3.0.3 validation in plain Python (Debian 12 has no
packaged OpenAPI validator), agreement with docs/api.md (every endpoint of its table, every error code,
every header it names) and docs/schema.md (every member of the result object, in order), its own
examples, and real `mailsift verify --format jsonl` output validated against the Result schema.

Usage: openapi_test.py PATH/TO/mailsift REPO_ROOT. Prints "N passed, N failed" and exits non-zero on failure.
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from checks import Checks  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oas import Document  # noqa: E402

BIN, ROOT = sys.argv[1], sys.argv[2]
check = Checks()

with open(os.path.join(ROOT, "docs", "openapi.json"), encoding="utf-8") as f:
    raw = f.read()
try:
    doc = json.loads(raw)
except ValueError as e:
    check("json.parses", False, e)
    sys.exit(check.summary())
with open(os.path.join(ROOT, "docs", "api.md"), encoding="utf-8") as f:
    api_md = f.read()
with open(os.path.join(ROOT, "docs", "schema.md"), encoding="utf-8") as f:
    schema_md = f.read()

oas = Document(doc)
resolve, deref, declared, validate = oas.resolve, oas.deref, oas.declared, oas.validate
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")




# --- Top level -----------------------------------------------------------------------------------
check("openapi.version", doc.get("openapi") == "3.0.3", doc.get("openapi"))
check("info", isinstance(doc.get("info"), dict) and doc["info"].get("title") and doc["info"].get("version"),
      doc.get("info"))
check("top.keys", set(doc) <= {"openapi", "info", "servers", "paths", "components", "security", "tags",
                               "externalDocs"} and not any(k.startswith("x-") for k in doc), sorted(doc))
check("paths.object", isinstance(doc.get("paths"), dict) and doc["paths"], "no paths")

# --- Every $ref resolves, and points where its kind belongs ----------------------------------------
refs = []


def walk(node, where):
    if isinstance(node, dict):
        if "$ref" in node:
            refs.append((where, node["$ref"]))
            check(f"ref.alone {where}", set(node) == {"$ref"}, sorted(node))
        for k, v in node.items():
            walk(v, f"{where}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, f"{where}/{i}")


walk(doc, "#")
check("refs.some", len(refs) > 20, len(refs))
bad = []
for where, r in refs:
    try:
        resolve(r)
    except KeyError:
        bad.append((where, r))
check("refs.resolve", not bad, bad)
if bad:  # the rest follows references
    sys.exit(check.summary())
used = {r for _, r in refs}
for kind in ("schemas", "responses", "parameters", "headers"):
    for name in doc.get("components", {}).get(kind, {}):
        check(f"components.used {kind}/{name}", f"#/components/{kind}/{name}" in used, "defined but never used")

# --- Schema objects: OpenAPI 3.0 keywords only (no type arrays, const, examples …) ----------------
SCHEMA_KEYS = {"title", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength",
               "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxProperties", "minProperties",
               "required", "enum", "type", "allOf", "oneOf", "anyOf", "not", "items", "properties",
               "additionalProperties", "description", "format", "default", "nullable", "discriminator",
               "readOnly", "writeOnly", "xml", "externalDocs", "example", "deprecated"}
TYPES = {"string", "number", "integer", "boolean", "array", "object"}


def check_schema(s, where):
    if "$ref" in s:
        return
    extra = {k for k in s if not k.startswith("x-")} - SCHEMA_KEYS
    check(f"schema.keywords {where}", not extra, sorted(extra))
    if "type" in s:
        check(f"schema.type {where}", s["type"] in TYPES, s["type"])
    if s.get("type") == "array":
        check(f"schema.array_items {where}", isinstance(s.get("items"), dict), "array without items")
    if "nullable" in s:
        check(f"schema.nullable {where}", isinstance(s["nullable"], bool), s["nullable"])
    if "required" in s:
        props = s.get("properties", {})
        missing = [k for k in s["required"] if k not in props]
        check(f"schema.required_declared {where}", not missing, missing)
        check(f"schema.required_unique {where}", len(set(s["required"])) == len(s["required"]) > 0, s["required"])
    if "enum" in s:
        check(f"schema.enum {where}", isinstance(s["enum"], list) and s["enum"], s["enum"])
    for k in ("allOf", "oneOf", "anyOf"):
        for i, sub in enumerate(s.get(k, [])):
            check_schema(sub, f"{where}/{k}/{i}")
    for k, sub in s.get("properties", {}).items():
        check_schema(sub, f"{where}/properties/{k}")
    for k in ("items", "not"):
        if isinstance(s.get(k), dict):
            check_schema(s[k], f"{where}/{k}")
    if isinstance(s.get("additionalProperties"), dict):
        check_schema(s["additionalProperties"], f"{where}/additionalProperties")


for name, s in doc.get("components", {}).get("schemas", {}).items():
    check_schema(s, f"#/components/schemas/{name}")

# --- Operations ------------------------------------------------------------------------------------
schemes = doc.get("components", {}).get("securitySchemes", {})
check("security.bearer", any(s.get("type") == "http" and s.get("scheme", "").lower() == "bearer"
                             for s in schemes.values()), schemes)


def check_security(reqs, where):
    check(f"security.list {where}", isinstance(reqs, list), reqs)
    for req in reqs:
        for name in req:
            check(f"security.scheme_defined {where}", name in schemes, name)


check_security(doc.get("security", []), "#")

op_ids = []
ops = {}  # (METHOD, path) → operation
for path, item in doc["paths"].items():
    check(f"path.slash {path}", path.startswith("/"), path)
    templ = re.findall(r"{([^}]+)}", path)
    path_params = [deref(p) for p in item.get("parameters", [])]
    for method, op in item.items():
        if method == "parameters":
            continue
        if method not in METHODS:
            check(f"path.item_key {path}", method in ("summary", "description", "servers", "$ref"), method)
            continue
        where = f"{method.upper()} {path}"
        ops[(method.upper(), path)] = op
        op_ids.append(op.get("operationId"))
        check(f"op.operationId {where}", isinstance(op.get("operationId"), str), op.get("operationId"))
        params = path_params + [deref(p) for p in op.get("parameters", [])]
        for p in params:
            check(f"param.in {where} {p.get('name')}", p.get("in") in ("query", "header", "path", "cookie"), p)
            check(f"param.schema {where} {p.get('name')}", ("schema" in p) != ("content" in p), p)
            if p.get("in") == "path":
                check(f"param.path_required {where} {p.get('name')}", p.get("required") is True, p)
                check(f"param.path_in_template {where} {p.get('name')}", p.get("name") in templ, templ)
            if "schema" in p:
                check_schema(p["schema"], f"{where} param {p.get('name')}")
        keys = [(p.get("in"), p.get("name")) for p in params]
        check(f"param.unique {where}", len(set(keys)) == len(keys), keys)
        for t in templ:
            check(f"param.template_declared {where} {t}", ("path", t) in keys, keys)
        if "requestBody" in op:
            body = deref(op["requestBody"])
            check(f"body.content {where}", isinstance(body.get("content"), dict) and body["content"], body)
            for mt, media in body.get("content", {}).items():
                check(f"body.schema {where} {mt}", "schema" in media, media)
                if "schema" in media:
                    check_schema(media["schema"], f"{where} body {mt}")
        if "security" in op:
            check_security(op["security"], where)
        responses = op.get("responses")
        check(f"op.responses {where}", isinstance(responses, dict) and responses, responses)
        responses = responses or {}
        check(f"op.success {where}", any(c.startswith("2") for c in responses), sorted(responses))
        for code, resp in responses.items():
            check(f"resp.code {where} {code}", re.fullmatch(r"[1-5](\d\d|XX)|default", code) is not None, code)
            resp = deref(resp)
            check(f"resp.description {where} {code}", isinstance(resp.get("description"), str), resp)
            for mt, media in resp.get("content", {}).items():
                if "schema" in media:
                    check_schema(media["schema"], f"{where} {code} {mt}")
            for h, hdr in resp.get("headers", {}).items():
                hdr = deref(hdr)
                check(f"resp.header_schema {where} {code} {h}", "schema" in hdr, hdr)
            if code[0] in "45":
                schema = resp.get("content", {}).get("application/json", {}).get("schema", {})
                check(f"resp.error_schema {where} {code}", schema.get("$ref") == "#/components/schemas/Error", schema)
check("op.operationId_unique", len(set(op_ids)) == len(op_ids), op_ids)

# --- docs/api.md: the endpoint table, error codes, headers -------------------------------------------
table = re.findall(r"^\| `(GET|POST|PUT|DELETE|PATCH) (/[^`?]*)(?:\?[^`]*)?` \| [^|]*\| ([^|]*)\|", api_md, re.M)
check("api_md.table_found", len(table) >= 10, table)
for method, path, key in table:
    op = ops.get((method, path))
    check(f"api_md.endpoint {method} {path}", op is not None, "missing from openapi.json")
    if op is None:
        continue
    public = key.strip().startswith("no")
    sec = op.get("security", doc.get("security"))
    check(f"api_md.security {method} {path}", (sec == []) == public, f"security {sec}, key needed: {key.strip()}")
    codes = set(op["responses"])
    if not public:
        check(f"api_md.401 {method} {path}", "401" in codes, sorted(codes))
        check(f"api_md.429 {method} {path}", "429" in codes, sorted(codes))
    else:
        check(f"api_md.not_limited {method} {path}", "429" not in codes and "401" not in codes, sorted(codes))
documented = {(m, p) for m, p, _ in table}
check("api_md.no_extra_operations", set(ops) <= documented, sorted(set(ops) - documented))
# The query parameters the table and the text name.
params_of = {k: {deref(p)["name"] for p in doc["paths"][k[1]].get("parameters", []) + op.get("parameters", [])}
             for k, op in ops.items()}
for key, want in {("GET", "/v1/verify"): {"email", "level", "timeout"},
                  ("POST", "/v1/jobs"): {"level", "callback_url", "name", "column"},
                  ("GET", "/v1/jobs/{id}/results"): {"id", "format"}}.items():
    check(f"api_md.params {key}", want <= params_of.get(key, set()), params_of.get(key))
jobs_body = ops.get(("POST", "/v1/jobs"), {}).get("requestBody", {}).get("content", {})
check("api_md.job_media_types", {"application/json", "text/csv", "text/plain"} <= set(jobs_body), sorted(jobs_body))
check("api_md.job_202_location", "Location" in ops.get(("POST", "/v1/jobs"), {}).get("responses", {})
      .get("202", {}).get("headers", {}), "202 without Location")
results = ops.get(("GET", "/v1/jobs/{id}/results"), {}).get("responses", {}).get("200", {})
check("api_md.results_header", "X-Job-State" in results.get("headers", {}), results)
check("api_md.results_media", any("csv" in m for m in results.get("content", {}))
      and any("json" in m for m in results.get("content", {})), results)

err_rows = re.findall(r"^\| (\d{3}) \| `([a-z_]+)` \|", api_md, re.M)
check("api_md.errors_found", len(err_rows) >= 14, err_rows)
enum = deref({"$ref": "#/components/schemas/Error"})["properties"]["error"]["properties"]["code"].get("enum", [])
check("api_md.error_codes", sorted(c for _, c in err_rows) == sorted(enum), (sorted(c for _, c in err_rows), enum))
all_codes = {}
for op in ops.values():
    for code, resp in op["responses"].items():
        all_codes.setdefault(code, []).append(deref(resp))
for status, code in err_rows:
    descs = " ".join(r.get("description", "") for r in all_codes.get(status, []))
    check(f"api_md.error_response {status} {code}", f"`{code}`" in descs, f"no {status} response names {code}")
header_of = {"401": "WWW-Authenticate", "405": "Allow", "429": "Retry-After"}
for status, header in header_of.items():
    for r in all_codes.get(status, []):
        check(f"api_md.header {status} {header}", header in r.get("headers", {}), r)

# --- docs/schema.md: every member of the result object, in order ------------------------------------
schemas = doc["components"]["schemas"]


def md_keys(heading):
    """The first-column `keys` of the table under a heading of schema.md."""
    part = schema_md.split(heading, 1)[1]
    part = part.split("\n#", 1)[0]
    keys = []
    for cell in re.findall(r"^\| ([^|]+) \|", part, re.M):
        keys += re.findall(r"`([a-z0-9_.\[\]]+)`", cell)
    return keys


top = [k for k in md_keys("# The result schema") if "." not in k]
# Members a result has only with an option: `reputation` with --history (docs/history.md).
OPTIONAL = {"reputation"}
check("schema_md.result_members", schemas["Result"]["required"] == [k for k in top if k not in OPTIONAL]
      and list(schemas["Result"]["properties"]) == top, (schemas["Result"]["required"], top))
flags = md_keys("## Flags")
check("schema_md.flags", sorted(schemas["Flags"]["required"]) == sorted(flags), (schemas["Flags"]["required"], flags))
dns = [k for k in md_keys("## DNS evidence") if "." not in k and "[" not in k]
check("schema_md.dns", sorted(schemas["DnsEvidence"]["properties"]) == sorted(dns), dns)
mx = [k.split(".", 1)[1] for k in md_keys("## DNS evidence") if k.startswith("mx[].")]
check("schema_md.mx", sorted(schemas["MxHost"]["properties"]) == sorted(mx), mx)
smtp = [k for k in md_keys("## SMTP evidence") if "." not in k]
check("schema_md.smtp", sorted(schemas["SmtpEvidence"]["properties"]) == sorted(smtp),
      sorted(set(schemas["SmtpEvidence"]["properties"]) ^ set(smtp)))

# --- The examples and real output, validated (tests/server/oas.py) ----------------------------------
for name, s in schemas.items():
    if "example" in s:
        e = validate(s["example"], s, f"example {name}", strict=True)
        check(f"example.valid {name}", not e, e)
# The schema.md examples of the dns and smtp members.
md_examples = list(re.finditer(r'^"(dns|smtp)":(\{.*?)\n```', schema_md, re.M | re.S))
check("schema_md.examples_found", [m.group(1) for m in md_examples] == ["dns", "smtp"], md_examples)
for m in md_examples:
    text = m.group(2).replace("…", "x")
    try:
        value = json.loads(text)
    except ValueError as e:
        check(f"schema_md.example_parses {m.group(1)}", False, e)
        continue
    target = {"dns": "DnsEvidence", "smtp": "SmtpEvidence"}[m.group(1)]
    e = validate(value, {"$ref": f"#/components/schemas/{target}"}, m.group(1), strict=True)
    check(f"schema_md.example_valid {m.group(1)}", not e, e)

addresses = ["john.smith@gmail.com", "bad@@x.com", "info@mailinator.com", "jane@gmial.com", "user@[192.0.2.1]",
             '"john doe"@example.org', "müller@bücher.de", "", "a" * 5000 + "@example.com", "x@localhost"]
p = subprocess.run([BIN, "verify", "--level", "syntax", "--format", "jsonl", "-"],
                   input="\n".join(addresses).encode() + b"\n", capture_output=True, timeout=60)
lines = p.stdout.decode("utf-8").splitlines()
check("cli.ran", len(lines) >= len(addresses) - 1, (p.returncode, p.stderr[-500:]))
for i, line in enumerate(lines):
    rec = json.loads(line)
    e = validate(rec, {"$ref": "#/components/schemas/Result"}, f"cli[{i}]", strict=True)
    check(f"cli.result_valid {i}", not e, e)
    check(f"cli.member_order {i}", list(rec) == [k for k in top if k not in OPTIONAL], list(rec))

sys.exit(check.summary())
