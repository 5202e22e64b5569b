"""Amounts the model names: checked against ISO 4217 and the currency's minor unit before any
money is recorded, and written back as decimal text (a float would turn 59.90 into 59.9 or
59.899999)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from agent.tools.registry import ToolRefused

# ISO 4217 active currency codes (funds codes included, precious metals and test codes not):
# a model that writes "EU" or "RUPEES" is told so instead of a payment being recorded in it.
ISO_CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
    CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
    GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD
    KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO
    NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS
    SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND
    VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
    """.split()
)
# Currencies without a minor unit: 1500.50 JPY is not an amount anyone can pay.
ZERO_DECIMAL = frozenset("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split())
CENT = Decimal("0.01")
# Numeric(14, 2): the largest amount the tables hold.
MAX_AMOUNT = Decimal("999999999999.99")


def currency_code(value: str) -> str:
    code = value.strip().upper()
    if code not in ISO_CURRENCIES:
        raise ToolRefused(f"{value!r} is not an ISO 4217 currency code; use a three-letter code such as EUR, USD or INR")
    return code


def parse_amount(value: Any, currency: str | None) -> Decimal:
    """A positive amount in `currency`'s minor units, or ToolRefused saying what is wrong with it."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ToolRefused(f"{value!r} is not an amount; give a number such as 25 or 25.50") from None
    if not amount.is_finite() or amount <= 0:
        raise ToolRefused("the amount must be greater than zero")
    if amount > MAX_AMOUNT:
        raise ToolRefused("the amount is too large")
    if currency in ZERO_DECIMAL and amount != amount.to_integral_value():
        raise ToolRefused(f"{currency} has no minor unit: give a whole amount")
    if amount != amount.quantize(CENT):
        raise ToolRefused("give the amount with at most two decimal places")
    return amount.quantize(CENT)


def money(amount: Decimal | None, currency: str | None = None) -> str | None:
    """Decimal text the customer would write: "59.90", "1500" for JPY."""
    if amount is None:
        return None
    if currency in ZERO_DECIMAL:
        return str(amount.quantize(Decimal(1)))
    return str(amount.quantize(CENT))
