ALTER TABLE `orders` DROP COLUMN `currency`;
ALTER TABLE `users` CHANGE `email_address` `email` varchar(255) NOT NULL;
ALTER TABLE `users` MODIFY `name` varchar(120) NOT NULL;
