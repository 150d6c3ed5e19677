#!/usr/bin/env python3
"""Generates a dbt project for the SQL-models benchmark: seeds of N rows in all, and M models
in layers, as a warehouse team writes them.

    generate.py DIR [--rows 1000000] [--models 200] [--seed 42]

Seeds: raw_events (90 % of the rows: id, user_id, product_id, day, kind, amount), raw_users
(5 %) and raw_products (the rest, at least 100). Models: three staging views over the seeds,
then layers of
  - filtered views over events (one kind, one range of products);
  - ephemeral models (events per day and user of a view), used by the table after them;
  - tables aggregating a view or ephemeral model by user, product or day, joined to users or
    products, with a Jinja loop over the kinds;
  - incremental tables by day (unique_key: day) over a view;
  - marts joining two tables;
with a `unique` and a `not_null` test on each table's key. Deterministic for a seed.
Standard library only.
"""

import argparse
import os
import random

KINDS = ["view", "click", "cart", "purchase", "refund"]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def seeds(dir, rows, rng):
    n_products = max(100, rows // 20)
    n_users = max(100, rows // 20)
    n_events = max(1000, rows - n_products - n_users)
    with open(os.path.join(dir, "seeds", "raw_products.csv"), "w") as f:
        f.write("id,name,category,price\n")
        for i in range(1, n_products + 1):
            f.write("%d,product %d,cat%d,%d.%02d\n" % (i, i, i % 17, rng.randint(1, 500), rng.randint(0, 99)))
    with open(os.path.join(dir, "seeds", "raw_users.csv"), "w") as f:
        f.write("id,name,country,signed_up\n")
        for i in range(1, n_users + 1):
            f.write("%d,user %d,%s,2023-%02d-%02d\n" % (
                i, i, rng.choice(["FR", "BE", "CH", "LU", "DE"]), rng.randint(1, 12), rng.randint(1, 28)))
    with open(os.path.join(dir, "seeds", "raw_events.csv"), "w") as f:
        f.write("id,user_id,product_id,day,kind,amount\n")
        for i in range(1, n_events + 1):
            f.write("%d,%d,%d,2024-%02d-%02d,%s,%d\n" % (
                i, rng.randint(1, n_users), rng.randint(1, n_products), rng.randint(1, 12),
                rng.randint(1, 28), rng.choice(KINDS), rng.randint(0, 10000)))
    return n_events + n_users + n_products


def tests_of(name, key):
    return ("  - name: %s\n    columns:\n      - name: %s\n        data_tests: [unique, not_null]\n"
            % (name, key))


def models(dir, count, rng):
    m = os.path.join(dir, "models")
    write(os.path.join(m, "staging", "stg_events.sql"),
          "select id as event_id, user_id, product_id, day, kind, amount\nfrom {{ ref('raw_events') }}\n")
    write(os.path.join(m, "staging", "stg_users.sql"),
          "select id as user_id, name, country, signed_up\nfrom {{ ref('raw_users') }}\n")
    write(os.path.join(m, "staging", "stg_products.sql"),
          "select id as product_id, name, category, price\nfrom {{ ref('raw_products') }}\n")
    made = 3
    tables = []
    props = ["version: 2\n", "models:\n"]

    def add(folder, name, sql, key=None):
        """Writes one model (a table when it has a key, tested on it); False once enough."""
        nonlocal made
        if made >= count:
            return False
        write(os.path.join(m, folder, name + ".sql"), sql)
        if key:
            tables.append((name, key))
            props.append(tests_of(name, key))
        made += 1
        return True

    group = 0
    while made < count:
        group += 1
        v, e = "events_%d" % group, "daily_user_%d" % group
        users = [x for x, _ in tables if x.startswith("by_user_")]
        pair = rng.sample(users, 2) if len(users) >= 2 else None
        kind, lo = rng.choice(KINDS), rng.randint(0, 50)
        # A filtered view of events; an ephemeral model of events per user and day, used by
        # the table by user; a table by product (a Jinja loop over the kinds); an incremental
        # table by day; a mart joining two earlier tables by user.
        (add("views", v,
             "{{ config(materialized='view') }}\n"
             "select * from {{ ref('stg_events') }}\n"
             "where kind <> '%s' and product_id %% 100 >= %d\n" % (kind, lo))
         and add("intermediate", e,
                 "{{ config(materialized='ephemeral') }}\n"
                 "select user_id, day, count(*) as events, sum(amount) as amount\n"
                 "from {{ ref('%s') }}\ngroup by user_id, day\n" % v)
         and add("marts", "by_user_%d" % group,
                 "{{ config(materialized='table') }}\n"
                 "select u.user_id, u.country, count(*) as active_days, sum(d.events) as events,\n"
                 "       sum(d.amount) as amount\n"
                 "from {{ ref('%s') }} d\njoin {{ ref('stg_users') }} u on u.user_id = d.user_id\n"
                 "group by u.user_id, u.country\n" % e, "user_id")
         and add("marts", "by_product_%d" % group,
                 "{{ config(materialized='table') }}\n"
                 "select p.product_id, p.category,\n"
                 "{%% for k in %r %%}"
                 "    sum(case when e.kind = '{{ k }}' then e.amount else 0 end) as {{ k }}_amount,\n"
                 "{%% endfor %%}"
                 "    count(*) as events\n"
                 "from {{ ref('%s') }} e\njoin {{ ref('stg_products') }} p on p.product_id = e.product_id\n"
                 "group by p.product_id, p.category\n" % (KINDS, v), "product_id")
         and add("marts", "by_day_%d" % group,
                 "{{ config(materialized='incremental', unique_key='day') }}\n"
                 "select day, count(*) as events, sum(amount) as amount\n"
                 "from {{ ref('%s') }}\n"
                 "{%% if is_incremental() %%}where day >= (select max(day) from {{ this }}){%% endif %%}\n"
                 "group by day\n" % v, "day")
         and pair is not None
         and add("marts", "mart_%d" % group,
                 "{{ config(materialized='table') }}\n"
                 "select a.user_id, a.country, a.amount as amount_a, b.amount as amount_b,\n"
                 "       a.amount - b.amount as gap\n"
                 "from {{ ref('%s') }} a\njoin {{ ref('%s') }} b on a.user_id = b.user_id\n"
                 % tuple(pair), "user_id"))
    write(os.path.join(m, "schema.yml"), "".join(props))
    return made, len(tables)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--models", type=int, default=200)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(os.path.join(a.dir, "seeds"), exist_ok=True)
    write(os.path.join(a.dir, "dbt_project.yml"),
          "name: bench\nversion: '1.0'\nconfig-version: 2\nprofile: bench\n"
          "models:\n  bench:\n    staging:\n      +materialized: view\n"
          "seeds:\n  bench:\n    raw_events:\n      +column_types:\n        day: date\n")
    rows = seeds(a.dir, a.rows, rng)
    made, tables = models(a.dir, a.models, rng)
    print("%s: %d seed rows, %d models (%d tables, each with 2 tests)" % (a.dir, rows, made, tables))


main()
