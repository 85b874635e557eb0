DROP TABLE `orders`;
DROP TABLE `users`;
