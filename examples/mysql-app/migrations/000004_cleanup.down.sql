ALTER TABLE `users` ADD COLUMN `legacy_code` varchar(20) NULL;
