"""Migrations: start-up skips Alembic when the schema is current, and finds the real head."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from storage import create_engine
from storage.database import _MIGRATIONS, head_revision, migrate


def test_the_head_read_from_file_names_is_alembics_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


async def test_a_current_database_opens_without_importing_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newsbot.db'}"
    engine = create_engine(url)
    await migrate(engine)
    await engine.dispose()
    probe = (
        "import asyncio, sys\n"
        "from storage import open_storage\n"
        f"storage = asyncio.run(open_storage({url!r}))\n"
        "print('alembic' in sys.modules)\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", probe, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0
    assert stdout.decode().strip() == "False"
