"""Board definitions as the technician sees them: a one-line summary per board, or one board in full."""

from __future__ import annotations

from pathlib import Path

from boards.loader import BOARDS_DIR, Board, BoardError, load_all, load_named
from gateway.errors import InvalidInput, NotFound


def summary(board: Board) -> dict:
    b = board.data["board"]
    return {"name": board.name, "chip": board.chip, "role": board.role, "furniture": b["furniture"],
            "flash_offset": board.flash_offset, "flash_size": b["flash_size"],
            "description": b.get("description", ""),
            "sensors": [s["part"] for s in board.data.get("sensor", [])]}


def list_boards(directory: Path | str = BOARDS_DIR) -> list[dict]:
    try:
        return [summary(b) for b in load_all(directory).values()]
    except BoardError as exc:
        raise InvalidInput(str(exc)) from exc


def get_board(name_or_path: str) -> Board:
    """A shipped board by name or a board file by path; NotFound / InvalidInput with the reason."""
    path = Path(name_or_path) if name_or_path.endswith(".toml") else BOARDS_DIR / (name_or_path + ".toml")
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in BOARDS_DIR.glob("*.toml")))
        raise NotFound("no board %r (shipped boards: %s)" % (name_or_path, known))
    try:
        return load_named(name_or_path)
    except BoardError as exc:
        raise InvalidInput(str(exc)) from exc


def show_board(name_or_path: str) -> dict:
    """Everything the definition says, with its summary on top."""
    board = get_board(name_or_path)
    return {**summary(board), "path": str(board.path), "definition": board.data}
