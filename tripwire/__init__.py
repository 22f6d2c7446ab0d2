import os

if os.environ.get("TRIPWIRE_PURE"):  # run the pure-Python core even where a compiled one is built
    from tripwire.compiled import prefer_source

    prefer_source()
