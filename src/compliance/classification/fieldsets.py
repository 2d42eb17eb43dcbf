"""The fields each document type has, with what they mean: one definition shared by the
Claude tool schemas, the validation of Claude's replies, and the tests.

Field names are the ones the rules in ``rules/`` read; dates are ISO 8601 (``YYYY-MM-DD``).
"""

from __future__ import annotations

_IDENTITY = {
    "full_name": "Holder's full name as printed (given names then surname).",
    "surname": "Holder's surname(s).",
    "given_names": "Holder's given name(s).",
    "document_number": "Passport or card number.",
    "nationality": "Nationality as the 3-letter ICAO code where printed, else as printed.",
    "issuing_state": "Issuing state or organisation, 3-letter ICAO code.",
    "date_of_birth": "Date of birth, YYYY-MM-DD.",
    "expiry_date": "Date of expiry, YYYY-MM-DD.",
    "sex": "F, M or X.",
    "mrz_lines": "The machine-readable zone lines exactly as printed, joined by newlines.",
}

_LICENCE = {
    **{name: text for name, text in _IDENTITY.items() if name != "mrz_lines"},
    "document_number": "Licence number (field 5 on EU and UK licences).",
    "address": "Holder's address as printed, one line, comma separated.",
    "mrz_lines": "The machine-readable zone lines, if the licence has one, joined by newlines.",
}
_PERMIT = {
    **_IDENTITY,
    "document_number": "Permit, card or visa number.",
    "permit_type": "Kind of permit or visa as printed (e.g. leave to remain, C, B1/B2).",
}
_PARTY = "Name of a person or company as printed."

FIELDS: dict[str, dict[str, str]] = {
    "passport": _IDENTITY,
    "national_id": _IDENTITY,
    "driving_licence": _LICENCE,
    "residence_permit": _PERMIT,
    "proof_of_address": {
        "full_name": "Name of the person the document is addressed to.",
        "address": "Postal address of that person, one line, comma separated.",
        "document_date": "Date the document was issued, YYYY-MM-DD.",
        "issuer": "Company or authority that issued the document.",
        "customer_id": "Customer or account number printed on the document.",
    },
    "bank_statement": {
        "full_name": "Account holder's name.",
        "account": "Account number or IBAN as printed.",
        "issuer": "Bank that issued the statement.",
        "currency": "ISO 4217 currency code.",
        "opening_balance": "Opening balance, decimal with a dot, minus sign for debit.",
        "closing_balance": "Closing balance, decimal with a dot, minus sign for debit.",
        "statement_date": "Date of the statement, YYYY-MM-DD.",
        "period_start": "First day of the statement period, YYYY-MM-DD.",
        "period_end": "Last day of the statement period, YYYY-MM-DD.",
    },
    "consent_form": {
        "full_name": "Name of the person giving consent (the data subject).",
        "customer_id": "Customer number printed on the form.",
        "purpose": "Purpose of processing the person consents to.",
        "lawful_basis": "Lawful basis of processing as stated.",
        "consent_given_at": "Date the consent was given or signed, YYYY-MM-DD.",
    },
    "payslip": {
        "full_name": "Employee's name.",
        "issuer": "Employer's name.",
        "document_date": "Pay date, YYYY-MM-DD.",
        "net_pay": "Net pay as printed.",
        "gross_pay": "Gross pay as printed.",
        "address": "Employee's address, if printed.",
    },
    "tax_form": {
        "form": "Form name: W-9, W-8BEN, W-2, 1099-INT (any 1099), 1098, 1040, "
        "1040 Schedule A (any schedule), P60, Lohnsteuerbescheinigung, T4, or as printed.",
        "full_name": "Name of the taxpayer, employee or recipient the form is about.",
        "business_name": "Business or disregarded entity name (W-9 line 2).",
        "payer_name": "Name of the payer, employer or lender that issued the form.",
        "payer_tin": "Payer's or lender's TIN as printed (digits only), if printed.",
        "foreign_tin": "Foreign tax identifying number (W-8BEN line 6a) as printed.",
        "national_insurance_number": "UK National Insurance number (P60) as printed.",
        "tax_id": "German Steuer-Identifikationsnummer (Lohnsteuerbescheinigung), digits.",
        "tax_country": "ISO 3166 alpha-3 code of the country whose tax form it is.",
        "social_insurance_number": "Canadian social insurance number (T4), digits.",
        "tax_classification": "Federal tax classification ticked on the form.",
        "address": "Street address, then city, state and ZIP code.",
        "taxpayer_id": "SSN or EIN as printed (digits only).",
        "ssn": "Social security number from Part I as printed (digits only), if filled in.",
        "ein": "Employer identification number from Part I as printed (digits only), if filled.",
        "document_date": "Date signed, YYYY-MM-DD.",
    },
    "invoice": {
        "issuer": "Company that issued the invoice.",
        "invoice_number": "Invoice number.",
        "document_date": "Invoice date, YYYY-MM-DD.",
        "total_amount": "Total amount due, decimal with a dot.",
        "currency": "ISO 4217 currency code.",
        "full_name": "Name of the customer invoiced.",
        "address": "Customer's address.",
        "vat_id": "Issuer's VAT identification number, with its country prefix.",
        "customer_vat_id": "Customer's VAT identification number, with its country prefix.",
        "iban": "IBAN the invoice asks to be paid to, as printed.",
    },
    "receipt": {
        "issuer": "Shop, hotel or company that issued the receipt.",
        "total_amount": "Total paid, as printed.",
        "document_date": "Date of the receipt, YYYY-MM-DD.",
        "full_name": "Name of the customer or guest, if printed.",
    },
    "contract": {
        "first_party": _PARTY + " The first party named.",
        "second_party": _PARTY + " The second party named.",
        "document_date": "Date the contract was made or signed, YYYY-MM-DD.",
        "full_name": "Name of the customer if they are a party.",
    },
    "company_registration": {
        "company_name": "Registered name of the company.",
        "registration_number": "Company or registry number as printed.",
        "registered_address": "Registered office address, one line.",
        "document_date": "Date of the extract or certificate, YYYY-MM-DD.",
        "officers": "Directors or managers named, separated by semicolons.",
    },
    "unknown": {},
}
# Not asked of Claude: set by the classifier when a machine-readable zone decided the type,
# to the type the text (or the model) gave, so the checker can hold the two against each other.
TEXT_TYPE = "text_type"
