"""torchrun, with one fix for Debian's torch 1.13 on Python 3.11.

    python3 -m mixdepth_torch.launch --nproc_per_node G [--nnodes N --rdzv_backend c10d --rdzv_endpoint HOST:PORT] -m mixdepth_torch.train ...

takes exactly torchrun's arguments. torch 1.13's elastic launcher reads its --redirects/--tee
values by iterating the IntFlag ``Std``, and Python 3.11 no longer yields the zero member
``Std.NONE`` that way, so plain torchrun there fails before starting any worker
(``'NoneType' object has no attribute 'get'``). When that bug is present this maps the values
itself; on a torch without it this is torchrun unchanged. ``mixdepth train --engine torch``
launches through here.
"""
from __future__ import annotations

import sys


def _fix_std_from_str() -> None:
    try:
        from torch.distributed.elastic.multiprocessing import api

        if api.Std.from_str("0") is not None:
            return  # this torch reads its own flags
    except (ImportError, AttributeError):
        return  # a torch laid out otherwise: nothing to mend
    original = api.Std.from_str

    def from_str(vm: str):
        import re

        if re.fullmatch(r"\d", vm):
            return api.Std(int(vm))
        if re.fullmatch(r"(\d:\d,)*\d:\d", vm):
            return {int(i): api.Std(int(v)) for i, v in (m.split(":") for m in vm.split(","))}
        return original(vm)

    api.Std.from_str = classmethod(lambda cls, vm: from_str(vm))  # type: ignore[assignment]


def main(argv: list[str] | None = None) -> None:
    _fix_std_from_str()
    from torch.distributed import run

    run.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
