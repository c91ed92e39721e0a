"""Convert a checkpoint into one that loads safely everywhere: ``--help`` says how (the tool is
``mambavision_tools.convert_checkpoint``, also run as ``python -m mambavision_tools.convert_checkpoint``)."""
from mambavision_tools.convert_checkpoint import main

if __name__ == '__main__':
    main()
