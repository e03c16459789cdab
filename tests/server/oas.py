"""The OpenAPI document's references and a validator for the schema subset it uses (OpenAPI 3.0
schema objects: type, nullable, enum, required, properties, additionalProperties, items, allOf, oneOf,
minimum, maximum), shared by openapi_test.py and web_test.py. Plain Python: Debian 12 packages no
OpenAPI validator."""


class Document:
    def __init__(self, doc):
        self.doc = doc

    def resolve(self, pointer):
        """The object a local $ref points at (#/a/b~1c), or raises KeyError."""
        if not pointer.startswith("#/"):
            raise KeyError(f"not a local reference: {pointer}")
        node = self.doc
        for part in pointer[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise KeyError(pointer)
            node = node[part]
        return node

    def deref(self, obj):
        seen = 0
        while isinstance(obj, dict) and "$ref" in obj:
            obj = self.resolve(obj["$ref"])
            seen += 1
            if seen > 20:
                raise KeyError("reference loop")
        return obj

    def declared(self, s):
        """Every property name a schema declares, through allOf and references."""
        s = self.deref(s)
        names = set(s.get("properties", {}))
        for sub in s.get("allOf", []):
            names |= self.declared(sub)
        return names

    def validate(self, v, s, where="$", strict=False):
        """Errors (strings) of value v against schema s; strict: members no schema declares are errors."""
        s = self.deref(s)
        errs = []
        if v is None:
            return [] if s.get("nullable") else [f"{where}: null not allowed"]
        for sub in s.get("allOf", []):
            errs += self.validate(v, sub, where)
        if "oneOf" in s:
            ok = [sub for sub in s["oneOf"] if not self.validate(v, sub, where, strict)]
            if len(ok) != 1:
                errs.append(f"{where}: matches {len(ok)} of oneOf")
        t = s.get("type")
        kinds = {"string": str, "boolean": bool, "array": list, "object": dict}
        if t in kinds and not isinstance(v, kinds[t]):
            return errs + [f"{where}: not {t}: {v!r}"]
        if t == "integer" and (isinstance(v, bool) or not isinstance(v, int)):
            return errs + [f"{where}: not integer: {v!r}"]
        if t == "number" and (isinstance(v, bool) or not isinstance(v, (int, float))):
            return errs + [f"{where}: not number: {v!r}"]
        if "enum" in s and v not in s["enum"]:
            errs.append(f"{where}: {v!r} not in {s['enum']}")
        if "minimum" in s and isinstance(v, (int, float)) and v < s["minimum"]:
            errs.append(f"{where}: {v} < {s['minimum']}")
        if "maximum" in s and isinstance(v, (int, float)) and v > s["maximum"]:
            errs.append(f"{where}: {v} > {s['maximum']}")
        if isinstance(v, dict):
            for k in s.get("required", []):
                if k not in v:
                    errs.append(f"{where}: missing {k}")
            props = s.get("properties", {})
            for k, sub in props.items():
                if k in v:
                    errs += self.validate(v[k], sub, f"{where}.{k}", strict)
            if s.get("additionalProperties") is False or (strict and ("type" in s or "allOf" in s)):
                extra = set(v) - self.declared(s)
                if extra:
                    errs.append(f"{where}: undeclared members {sorted(extra)}")
        if isinstance(v, list) and "items" in s:
            for i, x in enumerate(v):
                errs += self.validate(x, s["items"], f"{where}[{i}]", strict)
        return errs
