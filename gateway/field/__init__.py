"""Field operations of the technician's toolkit: board definitions, flashing, Improv provisioning,
scanning for boards and the board console. Library functions raise gateway.errors types; the CLI in
gateway/cli/field_commands.py maps them to exit codes and output formats."""
