"""Regenerate the shipped samples in lightdom_tui/data/samples/ (deterministic).

Run: .venv/bin/python tests/curation/make_samples.py
Files named attribute_generation*.jsonl belong to the serving/prompts owner and are not touched.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from lightdom_tui.prompts import DEFAULT_SYSTEM_PROMPT, render_attribute_messages

OUT = Path(__file__).resolve().parents[2] / "lightdom_tui" / "data" / "samples"
rng = random.Random(7)

SITES = ["shop.example.com", "books.example.org", "news.example.net", "jobs.example.io", "travel.example.com",
         "recipes.example.org", "cars.example.de", "homes.example.co.uk", "events.example.fr", "music.example.com"]
PRODUCTS = [("Trail running shoe X2", "89.90", "EUR"), ("Espresso machine Duo", "249.00", "EUR"),
            ("Noise-cancelling headphones", "199.99", "USD"), ("Cast iron skillet 28cm", "39.50", "GBP"),
            ("Mechanical keyboard TKL", "119.00", "USD"), ("Yoga mat Pro", "45.00", "EUR"),
            ("LED desk lamp", "29.99", "USD"), ("Hiking backpack 40L", "129.00", "EUR")]
TOOLS_SYSTEM = (
    "You are LightDom's data assistant. Use the tools to mine web pages, infer schemas and run "
    "workflows. Tools: fetch_page(url), extract(url, selector), infer_schema(records), "
    "create_workflow(name, trigger, source), run_workflow(workflow_id). Answer concisely from tool results."
)


def call(call_id: str, name: str, arguments: dict) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def mining(i: int) -> dict:
    site = rng.choice(SITES)
    product, price, currency = rng.choice(PRODUCTS)
    slug = product.lower().replace(" ", "-")
    url = f"https://{site}/p/{slug}-{i}"
    field, selector, value = rng.choice([
        ("price", ".product-price", f"{price} {currency}"),
        ("title", "h1", product),
        ("meta description", "meta[name=description]", f"Buy {product} online with free delivery."),
        ("availability", ".stock-status", rng.choice(["In stock", "Only 3 left", "Ships in 2 weeks"])),
    ])
    return {"messages": [
        {"role": "system", "content": TOOLS_SYSTEM},
        {"role": "user", "content": f"What is the {field} on {url}?"},
        {"role": "assistant", "content": None, "tool_calls": [call(f"call_m{i}", "extract",
                                                                   {"url": url, "selector": selector})]},
        {"role": "tool", "tool_call_id": f"call_m{i}", "name": "extract",
         "content": json.dumps({"selector": selector, "matches": [value]})},
        {"role": "assistant", "content": f"The {field} on that page is {value}."},
    ], "metadata": {"task_type": "tool_use", "domain": "mining", "tags": ["extract"]}}


def schema(i: int) -> dict:
    product, price, currency = rng.choice(PRODUCTS)
    records = [{"name": product, "price": float(price), "currency": currency, "in_stock": rng.random() > 0.3,
                "tags": ["sale"] if i % 2 else []}]
    inferred = {"type": "object", "properties": {"name": {"type": "string"}, "price": {"type": "number"},
                                                  "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
                                                  "in_stock": {"type": "boolean"}, "tags": {"type": "array"}},
                "required": ["name", "price", "currency"]}
    return {"messages": [
        {"role": "system", "content": TOOLS_SYSTEM},
        {"role": "user", "content": f"Infer a schema for these scraped records from feed #{i}: {json.dumps(records)}"},
        {"role": "assistant", "content": None, "tool_calls": [call(f"call_s{i}", "infer_schema", {"records": records})]},
        {"role": "tool", "tool_call_id": f"call_s{i}", "name": "infer_schema", "content": json.dumps(inferred)},
        {"role": "assistant", "content": "Schema: name (string, required), price (number, required), currency "
                                         "(EUR/USD/GBP, required), in_stock (boolean), tags (array)."},
    ], "metadata": {"task_type": "tool_use", "domain": "schema"}}


def workflow(i: int) -> dict:
    site = rng.choice(SITES)
    cron = rng.choice(["0 6 * * *", "*/30 * * * *", "0 0 * * 1"])
    name = f"{site.split('.')[0]}-prices-{i}"
    return {"messages": [
        {"role": "system", "content": TOOLS_SYSTEM},
        {"role": "user", "content": f"Set up a workflow that scrapes {site} on schedule '{cron}' and run it once."},
        {"role": "assistant", "content": None, "tool_calls": [
            call(f"call_w{i}", "create_workflow", {"name": name, "trigger": "schedule", "source": f"https://{site}/",
                                                   "cron": cron})]},
        {"role": "tool", "tool_call_id": f"call_w{i}", "name": "create_workflow",
         "content": json.dumps({"workflow_id": 100 + i, "status": "draft"})},
        {"role": "assistant", "content": None, "tool_calls": [call(f"call_r{i}", "run_workflow",
                                                                   {"workflow_id": 100 + i})]},
        {"role": "tool", "tool_call_id": f"call_r{i}", "name": "run_workflow",
         "content": json.dumps({"run_id": 500 + i, "status": "completed", "records": rng.randint(20, 400)})},
        {"role": "assistant", "content": f"Created workflow {name} (id {100 + i}) with schedule '{cron}' and ran it once; "
                                         "the run completed."},
    ], "metadata": {"task_type": "tool_use", "domain": "workflow"}}


def error_case(i: int) -> dict:
    site = rng.choice(SITES)
    url = f"https://{site}/missing/{i}"
    error = rng.choice([f"HTTP 404 Not Found for {url}", f"timeout after 30 s fetching {url}",
                        "selector '.price' matched nothing", "robots.txt disallows this path"])
    return {"messages": [
        {"role": "system", "content": TOOLS_SYSTEM},
        {"role": "user", "content": f"Get the price from {url}"},
        {"role": "assistant", "content": None, "tool_calls": [call(f"call_e{i}", "extract",
                                                                   {"url": url, "selector": ".price"})]},
        {"role": "tool", "tool_call_id": f"call_e{i}", "name": "extract", "content": json.dumps({"error": error})},
        {"role": "assistant", "content": f"I could not get the price: {error}. Check the URL or the selector and "
                                         "I can try again."},
    ], "metadata": {"task_type": "tool_use", "domain": "error_handling"}}


def curation_call(i: int) -> dict:
    topic, attribute, decision, reason = rng.choice([
        ("product page", {"name": "product_price", "type": "number"}, "accept", "core field for price tracking"),
        ("product page", {"name": "ProductPrice", "type": "number"}, "reject", "name is not snake_case"),
        ("blog post", {"name": "author", "type": "string"}, "accept", "present on most articles"),
        ("blog post", {"name": "author_name", "type": "string"}, "reject", "duplicate of existing attribute author"),
        ("job listing", {"name": "salary_range", "type": "string"}, "accept", "high value for filtering"),
        ("job listing", {"name": "salary", "type": "boolean"}, "reject", "wrong type: salary is not a boolean"),
        ("recipe", {"name": "cooking_time_minutes", "type": "number"}, "accept", "numeric and well defined"),
        ("recipe", {"name": "vibe", "type": "string"}, "reject", "too vague to extract reliably"),
        ("event page", {"name": "start_date", "type": "date"}, "accept", "required for calendars"),
        ("hotel page", {"name": "h1", "type": "string"}, "accept", "the page title is a stable h1"),
        ("hotel page", {"name": "meta_description", "type": "string"}, "accept", "useful SEO summary"),
        ("car listing", {"name": "mileage_km", "type": "number"}, "accept", "key comparison field"),
    ])
    record = {
        "task_type": "curation",
        "prompt": f"Data stream for '{topic}' (source #{i}). Should this suggested attribute be kept? "
                  f"{json.dumps(attribute)}. Reply with JSON {{\"decision\", \"reason\"}}.",
        "output": {"decision": decision, "reason": reason},
        "model": rng.choice(["smollm2-135m-instruct", "deepseek-chat"]),
        "latency_ms": rng.randint(80, 2400),
        "cost": round(rng.random() / 1000, 6),
        "confidence": round(rng.uniform(0.4, 0.99), 2),
        "decision": decision,
        "metadata": {"reason": reason, "tags": ["campaign-tree"]},
    }
    return record


ATTR_TOPICS = {
    "product page": [("h1", "string", "Main heading with the product name"),
                     ("meta_description", "string", "Meta description summarising the page"),
                     ("product_price", "number", "Current price without currency symbol"),
                     ("currency", "string", "ISO 4217 currency code"),
                     ("in_stock", "boolean", "Whether the product can be ordered now")],
    "news article": [("headline", "string", "The article's h1 headline"),
                     ("published_date", "date", "Publication date"),
                     ("author", "string", "Byline"), ("section", "string", "Section of the site"),
                     ("tags", "array", "Topic tags")],
    "real estate listing": [("listing_price", "number", "Asking price"), ("bedrooms", "number", "Bedroom count"),
                            ("floor_area_m2", "number", "Living area in square metres"),
                            ("address", "string", "Street address"), ("features", "array", "Listed features")],
    "podcast episode": [("episode_title", "string", "Episode h1 title"), ("duration_seconds", "number", "Length"),
                        ("published_date", "date", "Release date"), ("guests", "array", "Guest names"),
                        ("meta_description", "string", "Episode summary")],
    "online course": [("course_title", "string", "Course name"), ("price", "number", "Course price"),
                      ("level", "string", "Beginner, intermediate or advanced"),
                      ("duration_hours", "number", "Total video hours"), ("has_certificate", "boolean", "Certificate")],
    "restaurant page": [("restaurant_name", "string", "Name in the h1"), ("cuisine", "string", "Type of cuisine"),
                        ("price_range", "string", "Price band such as $$"), ("opening_hours", "object", "Hours per day"),
                        ("rating", "number", "Average rating")],
}


def attribute_pair(i: int) -> tuple[str, str, str, dict]:
    topic = rng.choice(sorted(ATTR_TOPICS))
    attrs = ATTR_TOPICS[topic][:]
    rng.shuffle(attrs)
    count = rng.randint(3, len(attrs))
    context = rng.choice([None, f"source: https://{rng.choice(SITES)}/", "existing attributes: url"])
    messages = render_attribute_messages(topic, count, context)
    answer = json.dumps({"attributes": [{"name": n, "type": t, "description": d} for n, t, d in attrs[:count]]})
    return topic, messages[1]["content"], answer, {"topic": topic, "task_type": "attribute_generation"}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tool_lines = [json.dumps(f(i)) for i in range(30) for f in (mining, schema, workflow, error_case)]
    tool_lines.insert(17, '{"messages": [{"role": "user", "content": "Fetch https://shop.example.com/p/1"}, ')
    tool_lines.insert(41, json.dumps({"messages": [{"role": "user", "content": "run it"},
                                                   {"role": "assistant", "content": None, "tool_calls": [
                                                       call("c1", "run_workflow", {"workflow_id": 7})]},
                                                   {"role": "tool", "content": "{\"status\": \"completed\"}"}]}))
    tool_lines.insert(77, json.dumps({"messages": [{"role": "robot", "content": "beep"}]}))
    (OUT / "tool_use_chat.jsonl").write_text("\n".join(tool_lines) + "\n", encoding="utf-8")

    calls = [json.dumps(curation_call(i)) for i in range(80)]
    calls.insert(33, json.dumps({"task_type": "curation", "prompt": "Keep attribute?", "output": "yes",
                                 "confidence": "high"}))
    calls.insert(60, json.dumps({"task_type": "curation", "output": "no prompt here"}))
    (OUT / "curation_decisions_calls.jsonl").write_text("\n".join(calls) + "\n", encoding="utf-8")

    instruction = []
    for i in range(45):
        topic, user, answer, metadata = attribute_pair(i)
        instruction.append({"system": DEFAULT_SYSTEM_PROMPT, "instruction": user, "input": "", "output": answer,
                            "metadata": metadata})
    instruction.insert(20, {"instruction": "Topic: recipe\nCount: 4", "input": ""})  # no output
    (OUT / "web_attributes_instruction.json").write_text(json.dumps(instruction, indent=1), encoding="utf-8")

    sharegpt = []
    for i in range(40):
        topic, user, answer, metadata = attribute_pair(100 + i)
        sharegpt.append(json.dumps({"conversations": [{"from": "system", "value": DEFAULT_SYSTEM_PROMPT},
                                                      {"from": "human", "value": user},
                                                      {"from": "gpt", "value": answer}], "metadata": metadata}))
    sharegpt.insert(12, json.dumps({"conversations": [{"from": "narrator", "value": "once upon a time"}]}))
    (OUT / "web_attributes_sharegpt.jsonl").write_text("\n".join(sharegpt) + "\n", encoding="utf-8")

    completions = []
    for i in range(30):
        product, price, currency = rng.choice(PRODUCTS)
        sku = f"SKU-{rng.randrange(10000, 99999)}"
        discount = rng.choice([0, 5, 10, 15])
        final = round(float(price) * (100 - discount) / 100, 2)
        completions.append(json.dumps({
            "prompt": f"Map this scraped row to the catalogue schema: title={product!r}; ref={sku}; "
                      f"cost='{price} {currency}'; discount={discount}%",
            "completion": json.dumps({"name": product, "sku": sku, "price": final, "currency": currency,
                                      "discount_percent": discount}),
            "metadata": {"task_type": "schema_mapping", "source": "catalogue-import"},
        }))
    (OUT / "schema_mapping_completions.jsonl").write_text("\n".join(completions) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
