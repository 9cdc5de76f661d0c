-- concepts: the policy concepts of rules/parameters/population.yaml as macros, defined as
-- safetynet/concepts.py defines them for the Polars path (tests/test_concepts.py checks both agree).
-- Age is whole years on a day: the year difference, less one before the birthday in that year;
-- a person born on 29 February is a year older on 1 March of a common year.
create or replace temp macro birth_date(id_number) as try_strptime(substr(id_number, 7, 8), '%Y%m%d')::date;

create or replace temp macro age_on(id_number, on_date) as
    year(on_date) - year(birth_date(id_number))
    - case when month(on_date) * 100 + day(on_date)
                < month(birth_date(id_number)) * 100 + day(birth_date(id_number)) then 1 else 0 end;

create or replace temp macro is_minor(age) as age < getvariable('adult_age');

create or replace temp macro is_elderly(age) as age >= getvariable('elderly_age');

create or replace temp macro is_working_age(age) as
    age between getvariable('working_age_from') and getvariable('working_age_to');

create or replace temp macro is_severe_disability(grade) as list_contains(getvariable('severe_disability_grades'), grade);

create or replace temp macro is_recipient(category) as list_contains(getvariable('recipient_categories'), category);

-- a member who may be enrolled alone (单人保) when the household's category allows it: of working
-- age with a severe disability, or elderly with no labour capacity and a serious illness or a
-- severe disability; unknown facts count as not met
create or replace temp macro is_single_person_candidate(age, labour_capacity, health_status, grade) as
    coalesce(is_working_age(age) and coalesce(is_severe_disability(grade), false), false)
    or coalesce(is_elderly(age) and labour_capacity = '无'
                and (health_status = '大病' or coalesce(is_severe_disability(grade), false)), false);
