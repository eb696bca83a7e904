#!/usr/bin/env python3
"""Validate NGSI-LD entities against the official Smart Data Models JSON Schemas.

Usage: validate_sdm.py --schemas DIR --form normalized|keyValues FILE.ndjson

Each line of FILE is one entity. Normalized entities are first checked against the NGSI-LD
normalized structure (every attribute a Property, Relationship or GeoProperty with its value,
unitCode a UN/CEFACT code, observedAt an RFC 3339 date-time), then projected to key-values
(the form the Smart Data Models schemas describe) and validated. WaterObserved entities that
carry FloodMonitoring threshold attributes are also validated against the FloodMonitoring schema.

Known deviations, counted apart and not failures:
- WaterObserved.waterLevel has `minimum: 0` in the schema, but gauge levels are elevations on the
  gauge's datum and are negative below it.
- Alert.alertSource is `oneOf: [{format: uri}, EntityIdentifierType]` in the schema; an entity id
  such as urn:ngsi-ld:WaterObserved:city:1 satisfies both branches, which `oneOf` rejects. The value
  is accepted when it satisfies at least one branch (a failure of both is still a failure).

Prints one JSON object: {"checked", "valid", "deviations", "failures": [{"line", "id", "errors"}]}
and exits 1 when there are failures.
"""
import argparse
import json
import os
import sys

import jsonschema

SCHEMA_TYPES = ["WaterObserved", "FloodMonitoring", "CrowdFlowObserved", "Device", "DeviceMeasurement", "Alert"]
FLOOD_ATTRIBUTES = ["alertLevel", "dangerLevel", "floodLevelStatus"]
BELOW_DATUM = "WaterObserved.waterLevel below the gauge datum (schema minimum 0)"
ALERT_SOURCE_BOTH = "Alert.alertSource matches both branches of the schema's oneOf [uri, EntityIdentifierType]"

NORMALIZED_STRUCTURE = {
    "type": "object",
    "required": ["id", "type"],
    "properties": {
        "id": {"type": "string", "pattern": "^urn:ngsi-ld:[A-Za-z][A-Za-z0-9]*:[a-z0-9-]+:.+$"},
        "type": {"type": "string"},
        "@context": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    },
    "additionalProperties": {
        "type": "object",
        "required": ["type"],
        "properties": {
            "observedAt": {"type": "string", "format": "date-time"},
            "unitCode": {"type": "string", "pattern": "^[A-Z0-9]{2,3}$"},
        },
        "oneOf": [
            {"properties": {"type": {"const": "Property"}}, "required": ["value"], "not": {"required": ["object"]}},
            {"properties": {"type": {"const": "Relationship"}, "object": {"type": "string"}}, "required": ["object"],
             "not": {"required": ["value"]}},
            {"properties": {"type": {"const": "GeoProperty"},
                            "value": {"type": "object", "required": ["type", "coordinates"]}},
             "required": ["value"]},
        ],
    },
}


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def build_validators(schema_dir):
    """One validator per entity type, resolving the schemas' remote $refs to local copies."""
    common = load(os.path.join(schema_dir, "common-schema.json"))
    remote = {
        "https://smart-data-models.github.io/data-models/common-schema.json": common,
        "https://fiware.github.io/dataModels/common-schema.json": load(os.path.join(schema_dir, "fiware-common-schema.json")),
        "https://smart-data-models.github.io/dataModel.Device/device-schema.json": load(os.path.join(schema_dir, "device-schema.json")),
        "https://smart-data-models.github.io/dataModel.Alert/alert-schema.json": load(os.path.join(schema_dir, "alert-schema.json")),
        "https://smart-data-models.github.io/dataModel.Weather/weather-schema.json": load(os.path.join(schema_dir, "weather-schema.json")),
    }
    schemas = {t: load(os.path.join(schema_dir, t, "schema.json")) for t in SCHEMA_TYPES}
    cls = jsonschema.Draft202012Validator
    checker = cls.FORMAT_CHECKER
    try:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        resources = [(url, Resource.from_contents(doc, default_specification=DRAFT202012)) for url, doc in remote.items()]
        registry = Registry().with_resources(resources)
        validators = {t: cls(s, registry=registry, format_checker=checker) for t, s in schemas.items()}
    except ImportError:  # jsonschema < 4.18 (Debian bookworm): RefResolver with a store
        validators = {}
        for t, s in schemas.items():
            resolver = jsonschema.RefResolver.from_schema(s, store=dict(remote))
            validators[t] = cls(s, resolver=resolver, format_checker=checker)
    structure = cls(NORMALIZED_STRUCTURE, format_checker=checker)
    return validators, structure


def project(entity):
    """Normalized NGSI-LD to key-values: value, object, DateTime @value."""
    out = {}
    for name, attribute in entity.items():
        if name in ("id", "type", "@context") or not isinstance(attribute, dict):
            out[name] = attribute
            continue
        if attribute.get("type") == "Relationship":
            out[name] = attribute.get("object")
        else:
            value = attribute.get("value")
            if isinstance(value, dict) and value.get("@type") == "DateTime":
                value = value.get("@value")
            out[name] = value
    return out


def describe(error):
    path = ".".join(str(p) for p in error.absolute_path) or "(entity)"
    return f"{path}: {error.message}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemas", required=True)
    parser.add_argument("--form", choices=["normalized", "keyValues"], required=True)
    parser.add_argument("file")
    args = parser.parse_args()
    validators, structure = build_validators(args.schemas)
    report = {"checked": 0, "valid": 0, "deviations": {}, "failures": []}
    with open(args.file, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            report["checked"] += 1
            errors, deviations = [], []
            try:
                entity = json.loads(line)
            except ValueError as e:
                report["failures"].append({"line": number, "id": None, "errors": [f"not JSON: {e}"]})
                continue
            if args.form == "normalized":
                errors += [describe(e) for e in structure.iter_errors(entity)]
                values = project(entity)
            else:
                values = entity
            kind = values.get("type")
            if kind not in validators:
                errors.append(f"type: no Smart Data Models schema for {kind!r}")
            else:
                for e in validators[kind].iter_errors(values):
                    if kind == "WaterObserved" and list(e.absolute_path) == ["waterLevel"] and e.validator == "minimum":
                        deviations.append(BELOW_DATUM)
                    elif kind == "Alert" and list(e.absolute_path) == ["alertSource"] and e.validator == "oneOf" \
                            and "is valid under each of" in e.message:
                        deviations.append(ALERT_SOURCE_BOTH)
                    else:
                        errors.append(describe(e))
                if kind == "WaterObserved" and any(a in values for a in FLOOD_ATTRIBUTES):
                    flood = {k: v for k, v in values.items() if k in FLOOD_ATTRIBUTES or k in ("id", "location", "name")}
                    flood["type"] = "FloodMonitoring"
                    errors += ["FloodMonitoring " + describe(e) for e in validators["FloodMonitoring"].iter_errors(flood)]
            for d in deviations:
                report["deviations"][d] = report["deviations"].get(d, 0) + 1
            if errors:
                report["failures"].append({"line": number, "id": entity.get("id"), "errors": errors})
            else:
                report["valid"] += 1
    json.dump(report, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
