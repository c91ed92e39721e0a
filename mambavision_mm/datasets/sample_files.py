"""Whether a sample's image or annotation file can be used: a look at its bytes before loading, and a decode
once loading has failed."""
import os
from typing import Optional

import cv2
import numpy as np


def file_problem(path: str) -> Optional[str]:
    """Why the image or annotation file at ``path`` cannot be used as it is, or None when nothing shows.

    A look at the file's size, head and tail: decoders accept a JPEG cut short (the missing rows come out
    grey), so only the missing end marker tells. Only when the tail lacks it is the whole file searched, for
    files with data appended after their end.
    """
    end_markers = {b'\xff\xd8': (b'\xff\xd9', 'JPEG (no end-of-image marker)'),
                   b'\x89PNG': (b'IEND', 'PNG (no IEND chunk)')}
    try:
        size = os.path.getsize(path)
        if size == 0:
            return 'is empty (0 bytes)'
        with open(path, 'rb') as f:
            head = f.read(8)
            kind = next((end_markers[magic] for magic in end_markers if head.startswith(magic)), None)
            if kind is None:
                return None
            f.seek(max(size - 64, 0))
            if kind[0] in f.read():
                return None
            f.seek(len(head))
            return None if kind[0] in f.read() else f'is a truncated {kind[1]}'
    except OSError as error:
        return f'cannot be read ({error.strerror or error})'


def undecodable(path: str) -> bool:
    """Whether OpenCV fails to decode the file (used once loading has failed, to tell bad data from bugs)."""
    try:
        return cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED) is None
    except (OSError, ValueError, cv2.error):
        return True
