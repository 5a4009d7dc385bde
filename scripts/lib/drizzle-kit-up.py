#!/usr/bin/env python3
"""Converts a drizzle-kit 0.x journal folder to Drizzle 1.0's folder-per-migration layout, the way
`drizzle-kit up` (drizzle-kit 1.0, migrateToFoldersV3) does, into a new folder (the source is left alone):

  per journal entry: <YYYYMMDDHHmmss of entry.when, UTC>_<tag without its first "_" part>/
                     migration.sql (the .sql bytes unchanged) and snapshot.json (the entry's
                     snapshot when there is one, else {}); .sql files the journal does not name are
                     copied to the top, as drizzle-kit leaves them there; meta/ is not copied.

drizzle-kit takes the year from the local clock; this uses UTC throughout, as drizzle-kit does on a
UTC machine. Usage: drizzle-kit-up.py SOURCE TARGET
"""
import datetime
import json
import os
import shutil
import sys

source, target = sys.argv[1], sys.argv[2]
with open(os.path.join(source, "meta", "_journal.json"), encoding="utf-8") as handle:
    entries = json.load(handle)["entries"]
os.makedirs(target)
named = set()
for entry in entries:
    tag, when = entry["tag"], entry["when"]
    stamp = datetime.datetime.fromtimestamp(when / 1000, tz=datetime.timezone.utc).strftime("%Y%m%d%H%M%S")
    folder = os.path.join(target, stamp + "_" + "_".join(tag.split("_")[1:]))
    os.makedirs(folder)
    shutil.copyfile(os.path.join(source, tag + ".sql"), os.path.join(folder, "migration.sql"))
    snapshot = os.path.join(source, "meta", tag.split("_")[0] + "_snapshot.json")
    if os.path.exists(snapshot):
        shutil.copyfile(snapshot, os.path.join(folder, "snapshot.json"))
    else:
        with open(os.path.join(folder, "snapshot.json"), "w", encoding="utf-8") as handle:
            handle.write("{}\n")
    named.add(tag + ".sql")
for name in sorted(os.listdir(source)):
    if name.endswith(".sql") and name not in named:
        shutil.copyfile(os.path.join(source, name), os.path.join(target, name))
