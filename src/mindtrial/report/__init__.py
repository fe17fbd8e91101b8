"""The trial report: tables, CONSORT flow, figures and the self-contained HTML page (pure)."""

from mindtrial.report.build import ReportBundle, build_report, write_report

__all__ = ["ReportBundle", "build_report", "write_report"]
