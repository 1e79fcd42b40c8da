"""Entry point of the `reverbere` command: a thin click shell over the library.

Each area registers its commands in its own module; `COMMAND_MODULES` lists them. A module exposes
`commands`, a list of click commands or groups added to the top-level group.
"""

import importlib
import json
import sys

import click

from gateway.errors import ReverbereError

COMMAND_MODULES = (
    "gateway.cli.protocol_commands",
    "gateway.cli.field_commands",
    "gateway.cli.demo_commands",
    "gateway.cli.gateway_commands",
    "gateway.cli.lifi_commands",
    "gateway.cli.sim_commands",
    "gateway.cli.device_commands",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reverbere")
def cli():
    """Reverbère: connected street furniture, its sensor-network inventory and urban-platform feed.

    Exit codes: 0 success, 1 failure, 2 usage or invalid input, 3 not found, 4 timeout,
    5 protocol error, 6 verification failed, 7 service unavailable.
    """


for _name in COMMAND_MODULES:
    for _command in importlib.import_module(_name).commands:
        cli.add_command(_command)


def main(argv=None):
    try:
        result = cli.main(args=argv, prog_name="reverbere", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ReverbereError as exc:
        if "--json" in (argv if argv is not None else sys.argv[1:]):
            click.echo(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
        click.echo("error: %s" % exc, err=True)
        sys.exit(exc.exit_code)
    # In non-standalone mode click returns the code given to ctx.exit(); commands return None.
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
