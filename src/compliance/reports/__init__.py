"""Reports to regulators and compliance heads.

``compliance.reports.daily``: the daily report from the audit trail (figures in ``daily``,
matplotlib charts in ``charts``, HTML, CSV and PDF in ``render``).

``compliance.reports.sar``: the FinCEN SAR batch XML for a confirmed case: a typed filing
(``sar_model``), the parties from configuration (``sar_config``), the case mapped to a filing
(``sar_input`` to ``sar_case``, with its activity codes in ``sar_codes`` and its narrative in
``sar_narrative``), the XML (``sar_xml``) and its validation against FinCEN's schema
(``sar_schema``).
"""
