"""The GPU check's Markdown report: sections, tables, failed checks and what was skipped."""
import time
from typing import Callable, List, Optional


class Report:
    """A Markdown report printed as it is written, with the checks that failed and what was skipped."""

    def __init__(self, echo: Optional[Callable[[str], None]] = None):
        self.echo = echo  # called with each line as it is written (the tool prints them)
        self.lines, self.failures, self.skipped = [], [], []
        self.sections = []   # (heading, seconds it took)
        self.current, self.section_start = None, time.perf_counter()

    def add(self, text: str = '') -> None:
        """Write one line (an empty one by default)."""
        self.lines.append(text)
        if self.echo is not None:
            self.echo(text)

    def heading(self, text: str) -> None:
        """Start a section; the time since the previous heading goes to the previous section."""
        now = time.perf_counter()
        if self.current is not None:
            self.sections.append((self.current, now - self.section_start))
        self.current, self.section_start = text, now
        self.add()
        self.add(f'## {text}')
        self.add()

    def table(self, header: List[str]) -> Callable[[list], None]:
        """Write a table's header; returns the function that writes one row."""
        self.add('| ' + ' | '.join(header) + ' |')
        self.add('|' + '---|' * len(header))
        return lambda cells: self.add('| ' + ' | '.join(str(c) for c in cells) + ' |')

    def check(self, what: str, ok: bool, detail: str = '') -> str:
        """Record a failed check; returns the result cell, 'ok' or '**FAILED** detail'."""
        if not ok:
            self.failures.append(f'{what}: {detail}' if detail else what)
        return 'ok' if ok else f'**FAILED** {detail}'.rstrip()

    def skip(self, what: str, why: str) -> None:
        """Record, once, something that was not checked and why."""
        if f'{what}: {why}' not in self.skipped:
            self.skipped.append(f'{what}: {why}')

    def finish(self) -> None:
        """Write the time per section, what was skipped and the verdict."""
        self.heading('Time per section')
        row = self.table(['section', 'seconds'])
        for text, seconds in self.sections:
            row([text, f'{seconds:.0f}'])
        self.heading('Skipped')
        for line in self.skipped or ['nothing']:
            self.add(f'- {line}')
        self.heading('Result')
        if self.failures:
            self.add(f'{len(self.failures)} check(s) FAILED:')
            for line in self.failures:
                self.add(f'- {line}')
        else:
            self.add('every check passed')
        return '\n'.join(self.lines) + '\n'
