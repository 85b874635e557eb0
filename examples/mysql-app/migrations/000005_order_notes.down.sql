ALTER TABLE `orders` DROP COLUMN `note`;
