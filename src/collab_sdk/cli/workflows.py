"""``collab workflows list|show|validate|publish|run``: workflow definitions from the
command line. ``validate`` and ``publish`` read a definition file (JSON, the React Flow
``{nodes, edges}`` shape) or a stored workflow; ``run`` starts a run and prints its id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from collab_sdk.cli.base import group
from collab_sdk.cli.connect import client_options, with_client
from collab_sdk.cli.output import print_json, print_line, print_table
from collab_sdk.client.sync import CollabClient
from collab_sdk.errors import ValidationError
from collab_sdk.exits import ExitStatus

__all__ = ["register", "workflows", "cmd_list", "cmd_show", "cmd_create", "cmd_validate",
           "cmd_publish", "cmd_run", "read_json"]


@group("workflows", help="workflow definitions: list, show, create, validate, publish, run")
def workflows() -> None:
    """``collab workflows``."""


def register(cli: click.Group) -> None:
    """Add ``collab workflows``."""
    cli.add_command(workflows)


def read_json(text: str, what: str) -> Any:
    """``text`` as JSON, or the JSON in the file it names (``@file`` or a path)."""
    source = text[1:] if text.startswith("@") else text
    candidate = Path(source)
    try:
        raw = candidate.read_text() if not source.lstrip().startswith(("{", "[")) and candidate.is_file() else source
        return json.loads(raw)
    except (OSError, ValueError) as exc:
        raise ValidationError(f"{what} is not JSON (or a JSON file): {exc}", code="CL400") from None


@workflows.command("list", help="workflows, newest first")
@client_options
@click.option("--executor")
@click.option("--status", type=click.Choice(["draft", "published", "archived"]))
@click.option("--limit", type=int, default=20, show_default=True)
@with_client
def cmd_list(client: CollabClient, *, executor: str | None, status: str | None, limit: int,
             as_json: bool) -> int:
    """Workflows, newest first."""
    page = client.workflows.list(executor_id=executor, status=status, page_size=limit)
    if as_json:
        print_json(page)
    else:
        print_table(("ID", "NAME", "EXECUTOR", "VERSION", "STATUS", "STEPS", "UPDATED"),
                    [[w.id, w.name, w.executor_id, w.version, w.status, len(w.definition.nodes),
                      f"{w.updated_at:%Y-%m-%d %H:%M:%S}"] for w in page.items])
    return ExitStatus.OK


@workflows.command("show", help="a workflow with its definition")
@client_options
@click.argument("workflow_id")
@with_client
def cmd_show(client: CollabClient, *, workflow_id: str, as_json: bool) -> int:
    """A workflow with its steps and edges."""
    workflow = client.workflows.get(workflow_id)
    if as_json:
        print_json(workflow)
        return ExitStatus.OK
    print_line(f"{workflow.name}  v{workflow.version}  {workflow.status}  ({workflow.executor_id})")
    print_table(("STEP", "TYPE", "AFTER"), [
        [node.id, node.type, ", ".join(e.source for e in workflow.definition.edges if e.target == node.id)]
        for node in workflow.definition.nodes])
    return ExitStatus.OK


@workflows.command("create", help="a new draft from a definition (JSON, @file or a path)")
@client_options
@click.argument("name")
@click.option("--executor", required=True)
@click.option("--definition", "definition_text", required=True, help="JSON, @file or a path")
@click.option("--description", default=None)
@click.option("--input-schema", "schema_text", default=None, help="JSON Schema of the run input")
@with_client
def cmd_create(client: CollabClient, *, name: str, executor: str, definition_text: str,
               description: str | None, schema_text: str | None, as_json: bool) -> int:
    """Create a draft; prints its id."""
    workflow = client.workflows.create(
        name, executor_id=executor, description=description,
        definition=read_json(definition_text, "--definition"),
        input_schema=read_json(schema_text, "--input-schema") if schema_text else None)
    print_json(workflow) if as_json else print_line(str(workflow.id))
    return ExitStatus.OK


@workflows.command("validate", help="check a stored workflow (ID) or a definition file "
                                    "(--definition with --executor); exit 2 when invalid")
@client_options
@click.argument("workflow_id", required=False)
@click.option("--definition", "definition_text", help="JSON, @file or a path")
@click.option("--executor", help="the executor whose step catalog applies (with --definition)")
@with_client
def cmd_validate(client: CollabClient, *, workflow_id: str | None, definition_text: str | None,
                 executor: str | None, as_json: bool) -> int:
    """Print the engine's verdict; exit 0 valid, 2 invalid."""
    if (workflow_id is None) == (definition_text is None):
        raise ValidationError("give a workflow ID or --definition", code="CL400")
    if definition_text is not None:
        if not executor:
            raise ValidationError("--definition needs --executor", code="CL400")
        verdict = client.workflows.validate_definition(read_json(definition_text, "--definition"),
                                                       executor_id=executor)
    else:
        verdict = client.workflows.validate(workflow_id or "")
    if as_json:
        print_json(verdict)
    else:
        print_line("valid" if verdict.valid else "invalid", "green" if verdict.valid else "red")
        for error in verdict.errors:
            print_line(f"  {error}")
    return ExitStatus.OK if verdict.valid else ExitStatus.USAGE


@workflows.command("publish", help="validate and freeze a draft so it can run")
@client_options
@click.argument("workflow_id")
@with_client
def cmd_publish(client: CollabClient, *, workflow_id: str, as_json: bool) -> int:
    """Publish; the engine's errors (exit 2) when the definition is not valid."""
    workflow = client.workflows.publish(workflow_id)
    print_json(workflow) if as_json else print_line(f"{workflow.id} published (v{workflow.version})")
    return ExitStatus.OK


@workflows.command("run", help="start a run of a published workflow; prints the run id")
@client_options
@click.argument("workflow_id")
@click.option("--input", "input_text", default="{}", help="the run input: JSON, @file or a path")
@click.option("--idempotency-key", default=None)
@with_client
def cmd_run(client: CollabClient, *, workflow_id: str, input_text: str, idempotency_key: str | None,
            as_json: bool) -> int:
    """Start a run (the same idempotency key answers the existing run)."""
    data = read_json(input_text, "--input")
    if not isinstance(data, dict):
        raise ValidationError("--input must be a JSON object", code="CL400")
    started = client.workflows.start(workflow_id, input=data, idempotency_key=idempotency_key)
    if as_json:
        print_json(started)
    else:
        print_line(f"{started.run.id}" + ("" if started.created else "  (existing run for this key)"))
    return ExitStatus.OK
