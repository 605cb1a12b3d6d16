"""Prints what's new in one version: its section of CHANGELOG.md (the lines under
`## <version>` up to the next `## `). Fails, naming the version, when there is none: a signed
release must say what it changes."""
import sys

version, path = sys.argv[1], sys.argv[2]
lines, inside = [], False
with open(path, encoding="utf-8") as f:
    for line in f:
        if line.startswith("## "):
            if inside:
                break
            inside = line[3:].split()[0] == version if line[3:].split() else False
            continue
        if inside:
            lines.append(line.rstrip("\n"))
text = "\n".join(lines).strip()
if not text:
    sys.exit(f"{path} has no section `## {version}` (or it is empty): write what's new first")
print(text)
