"""Product names the customer spells their own way: corrected when sure, asked about when not."""

from __future__ import annotations

from agent.product_names import ProductCheck, check_answer_text, corrections_text, find_products

CATALOGUE = ["iPhone 15 Pro", "iPhone 15", "Galaxy S24", "Galaxy S23", "Wireless Earbuds Pro", "Cotton T-Shirt", "Yoga Mat"]


async def test_a_close_misspelling_is_sure():
    [match] = await find_products("is the iphne 15 pro in stock", CATALOGUE)
    assert (match.written, match.product, match.sure) == ("iphne 15 pro", "iPhone 15 Pro", True)
    [shirt] = await find_products("cotton tshirt in size L?", CATALOGUE)
    assert shirt.product == "Cotton T-Shirt" and shirt.sure


async def test_names_written_right_and_unrelated_words_are_left_alone():
    assert await find_products("is the iphone 15 pro in stock?", CATALOGUE) == []
    assert await find_products("where is my order, it is late", CATALOGUE) == []
    # "iphone 15" is spelt right; only the other name is corrected.
    [match] = await find_products("iphone 15 and galxy s23", CATALOGUE)
    assert match.product == "Galaxy S23"


async def test_two_names_as_close_make_the_match_unsure():
    [match] = await find_products("do you have the galaxy s25", CATALOGUE)
    assert match.product in ("Galaxy S23", "Galaxy S24") and not match.sure


async def test_the_embedding_can_settle_a_close_call():
    async def agrees(written, names):
        return [0.97 if name == "Galaxy S24" else 0.80 for name in names]

    async def undecided(written, names):
        return [0.9 for _ in names]

    [settled] = await find_products("do you have the galaxy s2", ["Galaxy S24", "Galaxy Tab"], agrees)
    assert settled.product == "Galaxy S24" and settled.sure
    [unsure] = await find_products("do you have the galaxy s25", CATALOGUE, undecided)
    assert not unsure.sure


async def test_what_the_model_is_told():
    matches = await find_products("wirless earbds pro price?", CATALOGUE)
    assert '"wirless earbds pro" means our product "Wireless Earbuds Pro"' in corrections_text(matches)
    assert "confirmed" in check_answer_text(ProductCheck("galaxy s25", "Galaxy S24", accepted=True))
    assert "does not mean" in check_answer_text(ProductCheck("galaxy s25", "Galaxy S24", accepted=False))
