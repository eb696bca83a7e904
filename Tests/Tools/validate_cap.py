#!/usr/bin/env python3
"""Validate CAP 1.2 messages against the OASIS schema and read them back with lxml.

Usage: validate_cap.py --schema CAP-v1.2.xsd [--atom FILE.atom] FILE.cap...

Each CAP file is parsed by lxml (not by Kakehashi's writer) and validated against the XML schema;
its main fields are read back. An Atom file is parsed and its entries listed.

Prints one JSON object: {"messages": [{"file", "valid", "errors", "identifier", "sender", "sent",
"msgType", "status", "scope", "references", "infos": [{"language", "category", "event", "urgency",
"severity", "certainty", "headline", "description", "areaDesc", "circle"}]}],
"atom": {"id", "updated", "entries": [{"id", "title", "updated", "href", "type"}]}}
and exits 1 when a message is not valid.
"""
import argparse
import json
import sys

from lxml import etree

CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
ATOM = "{http://www.w3.org/2005/Atom}"


def text(element, name):
    found = element.find(CAP + name)
    return None if found is None else found.text


def read_message(path, schema):
    document = etree.parse(path)
    valid = schema.validate(document)
    root = document.getroot()
    infos = []
    for info in root.findall(CAP + "info"):
        area = info.find(CAP + "area")
        infos.append({
            "language": text(info, "language"), "category": text(info, "category"), "event": text(info, "event"),
            "urgency": text(info, "urgency"), "severity": text(info, "severity"), "certainty": text(info, "certainty"),
            "headline": text(info, "headline"), "description": text(info, "description"),
            "areaDesc": None if area is None else text(area, "areaDesc"),
            "circle": None if area is None else text(area, "circle"),
        })
    return {
        "file": path, "valid": bool(valid), "errors": [str(e) for e in schema.error_log],
        "identifier": text(root, "identifier"), "sender": text(root, "sender"), "sent": text(root, "sent"),
        "status": text(root, "status"), "msgType": text(root, "msgType"), "scope": text(root, "scope"),
        "references": text(root, "references"), "infos": infos,
    }


def read_atom(path):
    root = etree.parse(path).getroot()
    entries = []
    for entry in root.findall(ATOM + "entry"):
        link = entry.find(ATOM + "link")
        entries.append({
            "id": entry.findtext(ATOM + "id"), "title": entry.findtext(ATOM + "title"),
            "updated": entry.findtext(ATOM + "updated"),
            "href": None if link is None else link.get("href"), "type": None if link is None else link.get("type"),
        })
    return {"id": root.findtext(ATOM + "id"), "updated": root.findtext(ATOM + "updated"), "entries": entries}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", required=True)
    parser.add_argument("--atom")
    parser.add_argument("files", nargs="*")
    arguments = parser.parse_args()
    schema = etree.XMLSchema(etree.parse(arguments.schema))
    report = {"messages": [read_message(path, schema) for path in arguments.files]}
    if arguments.atom:
        report["atom"] = read_atom(arguments.atom)
    json.dump(report, sys.stdout, ensure_ascii=False)
    return 0 if all(message["valid"] for message in report["messages"]) else 1


if __name__ == "__main__":
    sys.exit(main())
