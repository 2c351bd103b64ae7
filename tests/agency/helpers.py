"""Agency files and data for the tests: client stores fed from CSV files."""

from __future__ import annotations

from pathlib import Path

PLUGIN = "agency.job_plugin"
TESTS = Path(__file__).resolve().parents[1]


def customers_csv(path: Path, ids: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["customer_id,email"] + [f"{i},{i.lower()}@example.com" for i in ids]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def schedule_section(workspace: str, job: str, args: list[str], *, cron: str = "0 3 * * *",
                     timezone: str = "UTC") -> str:
    quoted = ", ".join(f'"{arg}"' for arg in args)
    return f"""
[[schedules]]
workspace = "{workspace}"
job = "{job}"
args = [{quoted}]
cron = "{cron}"
timezone = "{timezone}"
"""


def import_schedule(workspace: str, csv: Path, *, cron: str = "0 3 * * *",
                    timezone: str = "UTC") -> str:
    return schedule_section(workspace, "import", [str(csv), "--entity", "customers"],
                            cron=cron, timezone=timezone)


def workspace_section(name: str, *, timezone: str = "UTC", currency: str = "BRL",
                      extra: str = "") -> str:
    return f"""
[workspaces.{name}]
store = "stores/{name}.duckdb"
timezone = "{timezone}"
currency = "{currency}"
{extra}
"""
