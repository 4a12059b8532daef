"""Build the image without a Docker engine: the Dockerfile replayed into a Debian root file system.

Where no Docker engine or image registry is reachable, a root file system made from Debian's own
packages stands in for the base image (the same Debian release, bookworm, and Python minor
version, 3.11), and each instruction of the Dockerfile is carried out in it with chroot: ENV, RUN
(as the USER of the moment, in the WORKDIR), COPY from the build context, WORKDIR and USER. The
official image's interpreter in /usr/local is stood in for by a venv at /opt/python, first on
PATH (Debian's own Python refuses pip installs into the system). Needs root.

    debootstrap --variant=minbase --include=python3.11,python3.11-venv,ca-certificates \\
        bookworm /srv/newsbot-rootfs
    python3 deploy/replay_dockerfile.py /srv/newsbot-rootfs .

The image's configuration (environment, WORKDIR, USER, CMD, HEALTHCHECK) is written to
`image.json` at the root; start the CMD as the image would with
`chroot --userspec=10001:10001 ROOTFS /usr/bin/env -i KEY=VALUE… /bin/sh -c 'cd /data && exec
newsbot run'` (bind-mount a host directory owned by uid 10001 on ROOTFS/data for the volume).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

BASE_PATH = "/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def in_root(root: Path, command: str, env: dict[str, str], user: str, cwd: str) -> list[str]:
    """The argv that runs a shell `command` in `root` as `user`, in `cwd`, with only `env`."""
    userspec = [] if user in ("root", "0") else [f"--userspec={user}"]
    variables = [f"{key}={value}" for key, value in env.items()]
    script = f"cd {shlex.quote(cwd)} && {command}"
    return [
        "chroot",
        *userspec,
        str(root),
        "/usr/bin/env",
        "-i",
        *variables,
        "/bin/sh",
        "-c",
        script,
    ]


def copy(context: Path, sources: list[str], destination: Path, into_directory: bool) -> None:
    for name in sources:
        source = context / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(source, destination, dirs_exist_ok=True, ignore=ignore)
            continue
        target = destination / source.name if into_directory else destination
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def replay(root: Path, context: Path) -> dict[str, object]:
    """Carry out the Dockerfile in `context` in `root`; the image's configuration."""
    text = re.sub(r"\\\n\s*", " ", (context / "Dockerfile").read_text())
    env = {"PATH": BASE_PATH, "HOME": "/root"}
    workdir, user = "/", "root"
    config: dict[str, object] = {}
    if not (root / "opt/python/bin/python").exists():
        subprocess.run(in_root(root, "python3.11 -m venv /opt/python", env, user, "/"), check=True)
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        word, _, rest = line.strip().partition(" ")
        print(f"### {word} {rest[:100]}", flush=True)
        if word == "ENV":
            for assignment in shlex.split(rest):
                key, _, value = assignment.partition("=")
                env[key] = value
        elif word == "RUN":
            subprocess.run(in_root(root, rest, env, user, workdir), check=True)
        elif word == "WORKDIR":
            workdir = rest if rest.startswith("/") else f"{workdir.rstrip('/')}/{rest}"
            (root / workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)
        elif word == "COPY":
            *sources, target = rest.split()
            absolute = target if target.startswith("/") else f"{workdir}/{target}"
            copy(context, sources, root / absolute.lstrip("/"), target.endswith("/"))
        elif word == "USER":
            user = rest
        elif word == "CMD":
            config["cmd"] = json.loads(rest)
        elif word == "HEALTHCHECK":
            config["healthcheck"] = json.loads(rest.split(" CMD ", 1)[1])
        elif word not in ("FROM", "VOLUME", "EXPOSE"):
            raise SystemExit(f"replay_dockerfile: {word} is not supported")
    return {"env": env, "workdir": workdir, "user": user, **config}


def main() -> None:
    root, context = Path(sys.argv[1]), Path(sys.argv[2])
    config = replay(root, context)
    (root / "image.json").write_text(json.dumps(config, indent=1))
    print(f"### done; the image's configuration is in {root / 'image.json'}")


if __name__ == "__main__":
    main()
