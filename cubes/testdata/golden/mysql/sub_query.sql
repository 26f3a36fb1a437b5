SELECT (SELECT count(`events`.id) FROM public.events AS `events` WHERE `events`.account_id = `accounts`.id) `accounts__lifetime_events`, count(`accounts`.id) `accounts__count` FROM public.accounts AS `accounts` WHERE (SELECT count(`events`.id) FROM public.events AS `events` WHERE `events`.account_id = `accounts`.id) > $1 GROUP BY 1 ORDER BY (count(`accounts`.id)) IS NULL DESC, 2 DESC
-- $1 = 10
