-- Longer names; email renamed to match the API; a currency per order.
ALTER TABLE `users` MODIFY `name` varchar(200);
ALTER TABLE `users` CHANGE `email` `email_address` varchar(255) NOT NULL;
ALTER TABLE `orders` ADD COLUMN `currency` char(3) NULL, ALGORITHM=INSTANT;
